"""The web-form endpoint (or a bare FastAPI handler) under uvicorn, for bench_endpoint in another process.

`python bench/endpoint_server.py ours|bare PORT`: `ours` is the real app (`create_app`) on the
register of AIRFLOW_CONN_FEEDBACK_DB with the forms' per-client rate limit lifted (the load comes
from one address); `bare` answers 202 to the same URL and does nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "include")]

import uvicorn  # noqa: E402
from fastapi import FastAPI, Response  # noqa: E402


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/feedback/intake/{form}")
    async def intake(form: str) -> Response:
        return Response(status_code=202)

    return app


def our_app() -> FastAPI:
    from feedback.channels.config import load_channels
    from feedback.web.app import URL_PREFIX, create_app

    channels = load_channels()
    forms = [f.model_copy(update={"rate_limit_per_minute": 10**6}) for f in channels.webforms.forms]
    channels = channels.model_copy(update={"webforms": channels.webforms.model_copy(update={"forms": forms})})
    root = FastAPI()
    root.mount(URL_PREFIX, create_app(channels=channels))
    return root


if __name__ == "__main__":
    mode, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(our_app() if mode == "ours" else bare_app(), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)
