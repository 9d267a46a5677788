"""Callbacks (回访): the closing loop of every item.

After an item is resolved, a team independent of the handling department asks the
customer whether it really is solved (domain.md section 5). Nothing is closed
until the customer has been asked; a dissatisfied customer reopens the item for a
second handling cycle, and an unsolvable item records the customer's final opinion.

- `policy`    callbacks.yaml: due times, assignment, claims, surveys, satisfaction scales
- `schedule`  one task per resolved item and handling cycle, due and assigned per policy
- `claims`    the claim rule (who may act on a task now) and the task row it reads, locked as needed
- `queue`     claiming (FOR UPDATE SKIP LOCKED), attempts, contact reveal for the claim holder
- `board`     what the console shows: an agent's queue, items near or past their deadlines
- `outcomes`  an answer on the active scale → events (close / reopen + escalate) and notifications
- `survey`    e-mail surveys through the outbox, with signed links (`tokens`)
"""
