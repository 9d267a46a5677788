"""The demo's callback team at work: agents claim tasks and record what their customers say.

Deterministic per item and seed, so a demo run is reproducible: most customers are
satisfied, some only so-so, some dissatisfied (the item reopens for a second
handling cycle and the supervisor is told), and some never pick up (after
`max_unreachable_attempts` calls the task ends unreachable). It goes through the
same public functions as the console and the CLI (`claim_next`, `record_attempt`,
`record_outcome`), so the demo exercises the real queue.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.callbacks.agents import assignable, sync_agents
from feedback.callbacks.policy import CallbackPolicy, load_policy
from feedback.callbacks.queue import claim_next, record_attempt, record_outcome

COMMENTS = {
    "satisfied": ["处理很及时，谢谢", "问题已经解决了", "Thanks, all good now"],
    "neutral": ["解决了，但是等了比较久", "还行吧", "Solved, but it took a while"],
    "dissatisfied": ["问题还是没有解决", "客服态度不好，流程太慢", "Still broken"],
}
SCORES = {"satisfied": 95, "neutral": 80, "dissatisfied": 40}
MAX_CLAIMS = 100_000


def _roll(seed: int, feedback_no: str, cycle: int) -> float:
    digest = hashlib.sha256(f"{seed}:{feedback_no}:{cycle}".encode()).hexdigest()
    return int(digest[:8], 16) / 0xFFFFFFFF


def fate(seed: int, feedback_no: str, cycle: int) -> str:
    """What this customer will say: unreachable, dissatisfied, neutral or satisfied (fewer complaints later)."""
    roll = _roll(seed, feedback_no, cycle)
    if roll < 0.12:
        return "unreachable"
    if roll < (0.27 if cycle == 1 else 0.17):
        return "dissatisfied"
    if roll < 0.40:
        return "neutral"
    return "satisfied"


def _answer(policy: CallbackPolicy, outcome: str) -> tuple[str | None, int | None]:
    scale = policy.scale
    if scale.kind == "score":
        return None, SCORES[outcome]
    return next(label for label, _, o in scale.options() if o == outcome), None


def work_queue(engine: Engine, now: datetime, seed: int, policy: CallbackPolicy | None = None) -> dict[str, Any]:
    """One shift of the callback team starting at `now`; returns counts only.

    The shift lasts `(max_unreachable_attempts - 1) × retry_after_minutes`: each
    agent in turn claims the next task at each step of it, so a customer who never
    answers is called the configured number of times and ends unreachable within the
    shift. Outcomes are dated inside the shift (on or after `now`); the SLA monitor or
    the next feedback_callbacks run applies them to the items.
    """
    policy = policy or load_policy()
    with engine.begin() as conn:
        sync_agents(conn, policy, now)
        agents = assignable(conn, policy) or list(conn.execute(
            sa.text("SELECT agent_id FROM feedback.callback_agent WHERE active ORDER BY agent_id")).scalars())
    counts: Counter[str] = Counter()
    if not agents:
        return {"agents": 0}
    steps = policy.queue.max_unreachable_attempts
    gap = timedelta(minutes=max(policy.queue.retry_after_minutes, 1))
    claims = 0
    for step in range(steps):
        at = now + step * gap
        idle: set[str] = set()
        turn = 0
        while len(idle) < len(agents) and claims < MAX_CLAIMS:
            agent = agents[turn % len(agents)]
            turn += 1
            if agent in idle:
                continue
            task = claim_next(engine, agent, at, policy)
            if task is None:
                idle.add(agent)
                continue
            claims += 1
            counts["claimed"] += 1
            said = fate(seed, task.feedback_no, task.handling_cycle)
            if said == "unreachable":
                result = record_attempt(engine, task.task_id, agent, "no_answer" if claims % 2 else "busy", at,
                                        policy)
                counts["attempts"] += 1
                if result.status == "unreachable":
                    counts["unreachable"] += 1
                continue
            rating, score = _answer(policy, said)
            comments = COMMENTS[said]
            comment = comments[int(_roll(seed, task.feedback_no, -task.handling_cycle) * len(comments))]
            opinion = "客户表示理解，接受替代方案" if task.purpose == "final_opinion" else None
            outcome = record_outcome(engine, task.task_id, agent, rating, comment, at, opinion, score=score,
                                     policy=policy)
            counts["answered"] += 1
            counts[outcome.outcome or "no_rating"] += 1
            counts[outcome.action] += 1
    return {"agents": len(agents), **dict(sorted(counts.items()))}
