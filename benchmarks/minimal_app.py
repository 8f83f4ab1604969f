"""The baseline for the end-to-end benchmark: the least a Flask route can do for a POST.

    gunicorn -c service/gunicorn.conf.py benchmarks.minimal_app:app

It runs under the same Gunicorn configuration as the service, reads the whole body and answers
a small JSON object, so that predict / minimal isolates what decoding, preprocessing, inference
and the service's logging cost on top of Flask and Gunicorn.
"""

from __future__ import annotations

from flask import Flask, request
from flask.typing import ResponseReturnValue

app = Flask(__name__)


@app.post("/predict")
def predict() -> ResponseReturnValue:
    body = request.get_data(cache=False)
    return {"received_bytes": len(body)}


@app.get("/ready")
def ready() -> ResponseReturnValue:
    return {"status": "ready"}
