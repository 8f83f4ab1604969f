"""`python -m benchmarks --peers`: the service against peer apps serving the same model.

- `bare_work.py`: the bare work every peer does for `POST /predict` (decode, forward, JSON);
- `bare_flask.py`: that work as a bare Flask app, under the service's Gunicorn configuration;
- `fastapi_app.py`: the same work as a FastAPI app, under uvicorn (uvloop, httptools);
- `run.py`: starts each server in turn (loaded by benchmarks/closed_loop.py: N keep-alive
  connections, each sending back to back), in alternating rounds, and reports server CPU per
  prediction (from /proc), the ratios to the service, and how requests spread over workers.

None of this is in the serving image: FastAPI and uvicorn come from the `bench` extra.
"""
