"""Wire-level stand-ins for the Google APIs the service calls, run as processes by the load
test (`--backend vertex-fake`), the benchmarks and the tests. Never part of the serving image."""
