"""A local Cloud Run Admin API v2 and Cloud Monitoring ListTimeSeries, over gRPC on 127.0.0.1.

The official clients (run_v2.ServicesClient with its long-running operations, and
monitoring_v3.MetricServiceClient) reach it over an insecure channel with anonymous
credentials, as `python -m release --endpoint HOST:PORT` does.
"""

from tests.release.fake.cloud import FakeCloud, RevisionScript

__all__ = ["FakeCloud", "RevisionScript"]
