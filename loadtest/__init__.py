"""Locust load tests that gate a release on the SLOs in slo/.

`python -m loadtest` (or `nox -s loadtest`) runs the scenarios (loadtest.scenarios) with a load
shape (loadtest.profiles, loadtest.shapes), records every request exactly (loadtest.recorder),
judges the run (loadtest.gate) and writes the reports (loadtest.report). Importing this package
imports nothing heavy: Locust is only imported by the locustfile.
"""
