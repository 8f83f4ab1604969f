"""Cloud Monitoring as code for the prediction service: dashboards, alert policies, an uptime
check, log-based metrics and, from slo/, the SLOs and their burn-rate alerts.

`python -m monitoring validate | render | plan | apply [--prune]` (see monitoring/cli.py).
"""
