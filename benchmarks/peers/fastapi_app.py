"""The bare work (bare_work.py) as a FastAPI app, served by uvicorn with uvloop and httptools.

    uvicorn benchmarks.peers.fastapi_app:app --workers 2 --loop uvloop --http httptools

The view is `async def` and does its ~0.5 ms of work on the event loop, the cheapest way to run
CPU-bound work in FastAPI (a plain `def` view would pay a thread-pool hand-off per request).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from benchmarks.peers import bare_work

app = FastAPI()


@app.post("/predict")
async def predict(request: Request) -> dict[str, Any]:
    return bare_work.predict(await request.body())
