"""What can go wrong when an agent works the queue, as one-line operator errors.

Messages carry task ids, agent ids and states, never a customer's contact or text.
"""

from __future__ import annotations

from feedback.errors import FeedbackError


class CallbackError(FeedbackError):
    """Base of the callback queue's refusals."""


class UnknownTask(CallbackError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"callback task {task_id} does not exist")
        self.task_id = task_id


class UnknownAgent(CallbackError):
    def __init__(self, agent: str) -> None:
        super().__init__(f"agent {agent!r} is not an active member of the callback team "
                         "(see `feedback callbacks agents`, or add it under team.agents in callbacks.yaml)")
        self.agent = agent


class NotClaimHolder(CallbackError):
    """The agent does not hold an unexpired claim on the task: no reveal, no attempt, no outcome."""

    def __init__(self, task_id: int, agent: str) -> None:
        super().__init__(f"callback task {task_id}: agent {agent!r} does not hold an unexpired claim on it "
                         "(claim it first: `feedback callbacks claim --agent …`)")
        self.task_id = task_id
        self.agent = agent


class TaskClosed(CallbackError):
    """The task already has its answer (or ended unreachable / cancelled): nothing more is recorded."""

    def __init__(self, task_id: int, status: str) -> None:
        super().__init__(f"callback task {task_id} is already {status}; nothing was recorded")
        self.task_id = task_id
        self.status = status


class NoContact(CallbackError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"callback task {task_id}: the item has no contact to call (or it was purged by retention)")
        self.task_id = task_id


class BadAnswer(CallbackError):
    """A rating, score or result the configuration does not know; the message lists the allowed ones."""
