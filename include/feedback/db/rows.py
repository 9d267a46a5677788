"""The type of a row read with a textual query.

`sa.text(...)` tells SQLAlchemy nothing about its columns, so each value of such a row is
typed `Any` by the library; this alias names that once instead of `Any` for the whole row.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import sqlalchemy as sa

TextRow: TypeAlias = sa.Row[*tuple[Any, ...]]
