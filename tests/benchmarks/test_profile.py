"""The profile's breakdown by stage (benchmarks/profile.py), from py-spy's raw output: stages
nest, and the samples that match no stage are counted as outside, whatever the worker class."""

from __future__ import annotations

from pathlib import Path

from benchmarks.profile import OUTSIDE, breakdown

PREDICT = (
    "run (gevent/greenlet.py:900);handle (gunicorn/workers/base_async.py:50);"
    "wsgi_app (flask/app.py:1500);predict (service/predict.py:40);"
    "decode_image (service/preprocess.py:80)"
)
HUB = "run (gevent/hub.py:600);wait (gevent/_hub_primitives.py:40)"
PARSE = "handle (gunicorn/workers/base_async.py:50);__init__ (gunicorn/http/message.py:30)"


def test_shares_count_nested_stages_and_the_samples_outside_any(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(f"{PREDICT} 6\n{HUB} 3\n{PARSE} 1\nnot a sample line\n", encoding="utf-8")
    profile = breakdown(raw)
    shares = profile["share_percent"]
    assert profile["samples_holding_the_gil"] == 10
    assert shares["Flask app (all of it)"] == shares["  predict view"] == 60.0
    assert shares["    decode_image"] == 60.0 and shares["    to_model_input"] == 0.0
    assert shares["Gunicorn: parse the request"] == 10.0
    assert shares[OUTSIDE] == 30.0  # gevent's hub: in no stage
