"""The callback team: who may work the queue, and how new tasks are shared among them.

The team is independent of the handling departments (domain.md section 5: the
callback is made by someone who did not handle the item), so tasks are assigned
over the team's own agents, never by the item's department. Agents listed in
callbacks.yaml are kept in `callback_agent` on every scheduling run; agents added
otherwise (the console, SQL) are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from feedback.callbacks.policy import CallbackPolicy


@dataclass(frozen=True)
class Agent:
    agent_id: str
    display_name: str
    team: str
    active: bool
    supervisor: bool
    source: str
    open_tasks: int = 0


def sync_agents(conn: sa.Connection, policy: CallbackPolicy, at: datetime) -> int:
    """Make `callback_agent` match team.agents of callbacks.yaml; returns rows changed.

    Agents removed from the file are deactivated, not deleted: their past attempts
    and outcomes keep naming them.
    """
    changed = 0
    for agent in policy.team.agents:
        changed += conn.execute(
            sa.text(
                """INSERT INTO feedback.callback_agent (agent_id, display_name, team, active, supervisor, source,
                                                        created_at, updated_at)
                   VALUES (:id, :name, :team, :active, :sup, 'config', :at, :at)
                   ON CONFLICT (agent_id) DO UPDATE SET display_name = EXCLUDED.display_name, team = EXCLUDED.team,
                          active = EXCLUDED.active, supervisor = EXCLUDED.supervisor, source = 'config',
                          updated_at = EXCLUDED.updated_at
                   WHERE (callback_agent.display_name, callback_agent.team, callback_agent.active,
                          callback_agent.supervisor, callback_agent.source)
                         IS DISTINCT FROM (EXCLUDED.display_name, EXCLUDED.team, EXCLUDED.active,
                                           EXCLUDED.supervisor, 'config')"""
            ),
            {"id": agent.id, "name": agent.name, "team": policy.team.name, "active": agent.active,
             "sup": agent.supervisor, "at": at},
        ).rowcount
    changed += conn.execute(
        sa.text("UPDATE feedback.callback_agent SET active = false, updated_at = :at "
                "WHERE source = 'config' AND active AND NOT (agent_id = ANY(:ids))"),
        {"at": at, "ids": [a.id for a in policy.team.agents]},
    ).rowcount
    return changed


def list_agents(conn: sa.Connection) -> list[Agent]:
    """Every agent with the number of open (pending or claimed) tasks assigned to them."""
    rows = conn.execute(
        sa.text(
            """SELECT a.agent_id, a.display_name, a.team, a.active, a.supervisor, a.source,
                      (SELECT count(*) FROM feedback.callback_task t
                       WHERE t.assigned_to = a.agent_id AND t.status IN ('pending', 'claimed')) AS open_tasks
               FROM feedback.callback_agent a ORDER BY a.team, a.agent_id"""
        )
    ).all()
    return [Agent(*r) for r in rows]


def active_agent(conn: sa.Connection, agent_id: str) -> Agent | None:
    row = conn.execute(
        sa.text("SELECT agent_id, display_name, team, active, supervisor, source FROM feedback.callback_agent "
                "WHERE agent_id = :a AND active"),
        {"a": agent_id},
    ).one_or_none()
    return Agent(*row) if row else None


def assignable(conn: sa.Connection, policy: CallbackPolicy) -> list[str]:
    """The agents new tasks go to: active members of the callback team, in a stable order."""
    return list(conn.execute(
        sa.text("SELECT agent_id FROM feedback.callback_agent WHERE active AND team = :team "
                "AND (:sup OR NOT supervisor) ORDER BY agent_id"),
        {"team": policy.team.name, "sup": policy.team.include_supervisors},
    ).scalars())


def assign(conn: sa.Connection, policy: CallbackPolicy, departments: Sequence[str | None]) -> list[str | None]:
    """An agent (or None when the team has nobody) for each new task, given its item's department.

    round_robin continues after the agent who got the latest task, so consecutive
    runs keep rotating; least_loaded gives each task to the agent with the fewest
    open tasks (ties by agent id), counting the tasks assigned in this batch. An
    agent whose team is the item's own department is skipped (independence).
    """
    agents = assignable(conn, policy)
    if not agents or not departments:
        return [None] * len(departments)
    team = policy.team.name
    out: list[str | None] = []
    if policy.assignment.mode == "least_loaded":
        load = dict.fromkeys(agents, 0)
        for agent, n in conn.execute(
            sa.text("SELECT assigned_to, count(*) FROM feedback.callback_task "
                    "WHERE status IN ('pending', 'claimed') AND assigned_to = ANY(:a) GROUP BY 1"),
            {"a": agents},
        ):
            load[agent] = n
        for department in departments:
            if department == team:
                out.append(None)
                continue
            agent = min(agents, key=lambda a: (load[a], a))
            load[agent] += 1
            out.append(agent)
        return out
    last = conn.execute(
        sa.text("SELECT assigned_to FROM feedback.callback_task WHERE assigned_to = ANY(:a) ORDER BY id DESC LIMIT 1"),
        {"a": agents},
    ).scalar()
    index = agents.index(last) + 1 if last in agents else 0
    for department in departments:
        if department == team:
            out.append(None)
            continue
        out.append(agents[index % len(agents)])
        index += 1
    return out
