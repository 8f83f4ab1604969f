"""Credentials never reach the logs, on every route and backend path.

tests/service checks the embedded /predict path; here the same promise is held on the Vertex AI
backend (the real client against the local fake Vertex AI server, answering, failing and falling
back), the Vertex AI contract route and the Open Inference Protocol routes, success and error
alike. Each request carries credentials in every header a caller or Cloud Run may use.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from PIL import Image

from fakes.vertex_server import FakeVertexServer, Fault
from service import Settings, create_app
from service.config import VertexSettings
from service.model import golden_samples
from service.model_server.open_inference import MODEL_NAME

# header -> (its value, the part of it that must never be written anywhere)
CREDENTIALS = {
    "Authorization": ("Bearer ya29.secret-access-token-7f3a", "secret-access-token-7f3a"),
    "X-Serverless-Authorization": ("Bearer eyJ.secret-id-token-91c2", "secret-id-token-91c2"),
    "Proxy-Authorization": ("Basic c2VjcmV0LXByb3h5LTQ4Yg==", "c2VjcmV0LXByb3h5LTQ4Yg"),
    "Cookie": ("session=secret-session-cookie-55d1", "secret-session-cookie-55d1"),
}
SECRETS = {header: value for header, (value, _) in CREDENTIALS.items()}
BODY_MARKER = "SECRET-BODY-MARKER-0d9e"


def png_base64(index: int) -> str:
    images, _ = golden_samples()
    buffer = io.BytesIO()
    Image.fromarray(images[index]).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def fake_vertex() -> Iterator[FakeVertexServer]:
    with FakeVertexServer() as server:
        yield server


def vertex_client(fake: FakeVertexServer, fallback: str) -> tuple[FlaskClient, io.StringIO]:
    stream = io.StringIO()
    settings = Settings(
        backend="vertex",
        project_id="fashion-test",
        vertex=VertexSettings(
            endpoint_id="987",
            api_endpoint=f"http://127.0.0.1:{fake.grpc_port}",
            retries=0,
            timeout_seconds=1.0,
            fallback=fallback,
        ),
    )
    return create_app(settings, log_stream=stream).test_client(), stream


def send_every_kind_of_request(client: FlaskClient) -> list[int]:
    """The Vertex contract route, the OIP routes and /predict, good and bad; the statuses."""
    image = png_base64(1)
    images, _ = golden_samples()
    requests = [
        ("/predict", {"instances": [{"content": image}]}),
        ("/predict", {"instances": [{"content": BODY_MARKER}]}),
        ("/vertex/predict", {"instances": [{"content": image}]}),
        ("/vertex/predict", {"instances": [{"content": BODY_MARKER}]}),
        (
            f"/v2/models/{MODEL_NAME}/infer",
            {
                "id": BODY_MARKER,
                "inputs": [
                    {
                        "name": "image",
                        "shape": [1, 28, 28],
                        "datatype": "UINT8",
                        "data": images[2].ravel().tolist(),
                    }
                ],
            },
        ),
        (f"/v2/models/{MODEL_NAME}/infer", {"inputs": BODY_MARKER}),
        ("/v2/models/another-model/infer", {"inputs": []}),
    ]
    return [client.post(path, json=body, headers=SECRETS).status_code for path, body in requests]


def assert_nothing_secret(logged: str) -> None:
    assert logged.strip(), "nothing was logged: the test would prove nothing"
    for header, (_, secret) in CREDENTIALS.items():
        assert secret not in logged, f"{header} value logged"
        assert header.lower() not in logged.lower(), f"{header} header logged"
    assert BODY_MARKER not in logged, "a request body was logged"


@pytest.mark.parametrize("fallback", ["none", "embedded"])
def test_no_credential_is_logged_when_vertex_answers(fake_vertex, fallback) -> None:
    fake_vertex.faults.reset()
    client, stream = vertex_client(fake_vertex, fallback)
    statuses = send_every_kind_of_request(client)

    assert statuses[0] == 200 and statuses[2] == 200 and statuses[4] == 200, statuses
    assert_nothing_secret(stream.getvalue())


@pytest.mark.parametrize("fallback", ["none", "embedded"])
@pytest.mark.parametrize("fault", ["unavailable", "internal", "garbage"])
def test_no_credential_is_logged_when_vertex_fails(fake_vertex, fallback, fault) -> None:
    fake_vertex.faults.reset()
    client, stream = vertex_client(fake_vertex, fallback)
    fake_vertex.faults.set(Fault(kind=fault))
    try:
        statuses = send_every_kind_of_request(client)
    finally:
        fake_vertex.faults.reset()

    logged = stream.getvalue()
    if fallback == "none":
        assert statuses[0] >= 500, statuses  # the upstream failure was answered and logged
    else:
        assert statuses[0] == 200, statuses  # answered by the embedded fallback
    records = [json.loads(line) for line in logged.splitlines() if line.strip()]
    assert any(record.get("severity") in ("WARNING", "ERROR") for record in records)
    assert_nothing_secret(logged)
