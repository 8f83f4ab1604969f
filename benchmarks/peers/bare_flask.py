"""The bare work (bare_work.py) as a Flask app, for the service's Gunicorn configuration.

gunicorn -c service/gunicorn.conf.py benchmarks.peers.bare_flask:app
"""

from __future__ import annotations

from flask import Flask, request
from flask.typing import ResponseReturnValue

from benchmarks.peers import bare_work

app = Flask(__name__)


@app.post("/predict")
def predict() -> ResponseReturnValue:
    return bare_work.predict(request.get_data(cache=False))
