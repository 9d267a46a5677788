"""The web-form intake endpoint under load, next to a bare FastAPI handler, in the same run.

Each server runs under uvicorn (one worker) in its own process; this process is the load
generator on loopback: `concurrency` requests in flight, `requests` valid JSON submissions
after a warm-up. Ours validates each submission against the form's schema, checks the
per-client rate limit in PostgreSQL and stores it durably (committed) before answering 202
with a receipt id; the bare handler answers 202 and does nothing — the framework's floor.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BODY = {"fields": {"name": "王小明", "phone": "13812345678", "email": "wang@example.cn", "category": "function_problem",
                   "subject": "支付失败", "message": "下单付款时一直提示支付失败，已经试了三次，请尽快处理。"},
        "locale": "zh-CN"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(mode: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "endpoint_server.py"), mode, str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(url + "/feedback/healthz", timeout=0.5)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the {mode} server did not start")


async def _load(url: str, requests: int, concurrency: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        async def worker() -> None:
            nonlocal errors
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                response = await client.post("/feedback/intake/contact_zh", json=BODY)
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 202
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, errors


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def measure(fresh: Callable[[], sa.Engine], requests: int, concurrency: int, say: Callable[[str], None]) -> dict:
    engine = fresh()
    env = {**os.environ, "AIRFLOW_CONN_FEEDBACK_DB": engine.url.set(drivername="postgresql").render_as_string(False),
           "PYTHONPATH": str(ROOT / "include")}
    results = {}
    for mode in ("bare", "ours"):
        proc, url = _start(mode, env)
        try:
            asyncio.run(_load(url, min(200, requests), concurrency))            # warm-up
            seconds, latencies, errors = asyncio.run(_load(url, requests, concurrency))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        results[mode] = {"rps": requests / seconds, "p50": _pct(latencies, 0.5), "p99": _pct(latencies, 0.99),
                         "errors": errors}
        say(f"  {mode}: {results[mode]['rps']:,.0f} req/s, p50 {results[mode]['p50']:.1f} ms, "
            f"p99 {results[mode]['p99']:.1f} ms, {errors} non-202")
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM feedback.webform_submission")).scalar_one()
    engine.dispose()
    return {"requests": requests, "concurrency": concurrency, "stored": stored, **results}


def markdown(r: dict) -> str:
    bare, ours = r["bare"], r["ours"]
    return f"""## Web-form endpoint under load (`python bench/run.py --only endpoint`)

{r['requests']:,} valid JSON submissions (after a warm-up) at {r['concurrency']} in flight, from a second
process over loopback; each server is uvicorn with one worker.

| server | requests/s | p50 | p99 | non-202 |
|---|---:|---:|---:|---:|
| bare FastAPI handler (answers 202, does nothing) | {bare['rps']:,.0f} | {bare['p50']:.1f} ms | {bare['p99']:.1f} ms | {bare['errors']} |
| our intake endpoint (schema, rate limit in PostgreSQL, durable insert, then 202) | {ours['rps']:,.0f} | {ours['p50']:.1f} ms | {ours['p99']:.1f} ms | {ours['errors']} |

{r['stored']:,} submissions were in the landing table afterwards (warm-up included): every 202 is a
committed row. The endpoint does {ours['rps'] / bare['rps']:.0%} of the bare handler's rate
({ours['rps'] / bare['rps']:.2f}×; target in issue 17: 0.5×); the rest is one autocommitted statement per
submission (the rate-limit hit and the row together: one round trip, durable when it returns). All requests come
from one address, so they queue on that client's rate-limit counter row, held only while the server runs the
statement and its commit. On this 2-core machine the load generator (one
Python process with httpx and asyncio) shares the CPUs with the server, so the bare handler's figure is
bounded by the generator as much as by uvicorn; the ratio, measured under the same load, is the figure to
read. A company site's forms send a few submissions a minute; one worker takes about
{ours['rps'] * 60:,.0f} a minute.
"""
