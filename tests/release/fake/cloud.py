"""One local server with the fake Cloud Run Admin API and Monitoring ListTimeSeries."""

from __future__ import annotations

import grpc

from tests.monitoring.fake.server import FakeServer
from tests.release.fake.cloud_run_api import CloudRunApi
from tests.release.fake.metrics_api import MetricsApi, RevisionScript


class FakeCloud(FakeServer):
    """`run.services` holds the Services (raw run_v2 messages), `run.history` the reconciled
    traffic over time, `metrics.scripts` the error and slow share of each revision."""

    def __init__(self, project: str, region: str, service: str) -> None:
        super().__init__(project)
        self.run = CloudRunApi(self.state, region)
        self.metrics = MetricsApi(self.state, service, region, self.run.shares_at)
        self.service_name = f"projects/{project}/locations/{region}/services/{service}"

    def api_handlers(self) -> list[grpc.GenericRpcHandler]:
        return [*self.run.handlers(), *self.metrics.handlers()]

    def service(self):  # the stored Service, after any reconciliation that is due
        with self.state.lock:
            self.run.reconcile_due()
            return self.run.services.get(self.service_name)


__all__ = ["FakeCloud", "RevisionScript"]
