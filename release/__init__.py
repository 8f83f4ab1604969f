"""Release a revision of the prediction service to Cloud Run: deploy it with no traffic, gate it
with the load test, canary it on the SLOs of slo/, then promote it or roll it back."""
