"""Field-only JMESPath expressions are looked up directly (issue 17); the results must be JMESPath's own."""

from __future__ import annotations

import jmespath
import pytest

from feedback.channels.rest.spec import FieldPath, compiled

RECORDS = [
    {"id": 7, "subject": "退款", "via": {"source": {"from": {"name": "王", "address": None}}}, "a-b": {"c": 1}},
    {"id": "x", "via": {"source": "web"}},                  # a field of text
    {"via": [{"source": 1}]},                               # a field of a list
    {"via": None, "subject": ""},
    {"via": {"source": {"from": {"name": ["a", "b"], "address": {"deep": True}}}}},
    {},
]
PATHS = ["id", "subject", "via", "via.source", "via.source.from.name", "via.source.from.address",
         "\"a-b\".c", "missing.field", "via.source.from.address.deep"]


@pytest.mark.parametrize("expression", PATHS)
def test_field_paths_are_looked_up_directly_with_jmespaths_results(expression):
    fast = compiled(expression)
    assert isinstance(fast, FieldPath)
    for record in [*RECORDS, None, [1, 2], "text", 3]:
        assert fast.search(record) == jmespath.search(expression, record), (expression, record)


@pytest.mark.parametrize("expression", ["to_string(id)", "updatedAt || createdAt", "answers[0].text",
                                        "answers[?field.ref=='message'].text | [0]", "@", "a[*].b"])
def test_other_expressions_stay_with_jmespath(expression):
    assert not isinstance(compiled(expression), FieldPath)
