"""Worker processes for CPU-bound stages (mail parsing, triage): how many, and how they are started.

Both stages run pure-Python work on a backlog that one process would read at the speed of
one core. Their workers come from a fork server (a clean process that imports the stage's
module once), never from a fork of a task process holding open connections and threads;
where fork servers do not exist, spawn.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.context import ForkServerContext, SpawnContext


def configured_workers(variable: str) -> int:
    """Worker processes for a backlog: the environment variable if set, else the cores this process may use."""
    configured = os.environ.get(variable, "").strip()
    if configured:
        return max(int(configured), 0)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def process_context(preload: str) -> ForkServerContext | SpawnContext:
    """Where workers come from: a fork server that has imported `preload` (so they start warm), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([preload])
        return ctx
    return multiprocessing.get_context("spawn")
