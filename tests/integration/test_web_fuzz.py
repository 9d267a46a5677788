"""Schemathesis against the web app's own OpenAPI schema: whatever is sent, no answer is a 5xx.

The app is the deployed one (intake endpoint, form page, survey page, callback console)
under uvicorn on 127.0.0.1, against a real register, with real form configuration (a plain,
a signed and a token form). Cases come from the schema both as valid requests and as
requests that break it (wrong types, missing parts, odd headers); each one goes over
real HTTP. Bounded: a fixed number of examples per operation, most of them for the intake
endpoint, so the whole run takes a few tens of seconds.

Besides the status the client sees, a recorder between uvicorn and the app keeps every
status the app started to send, and uvicorn's "Exception in ASGI application" fails the test.
"""

from __future__ import annotations

import copy
import json
import logging

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode
from web_server import StatusRecorder, serve

from feedback.channels.config import Channels, WebForm, WebForms
from feedback.web import console_auth
from feedback.web.app import create_app

INTAKE = "/intake/{form_name}"
# Examples per operation and generation mode: the intake endpoint gets most of the budget.
INTAKE_EXAMPLES = 60
OTHER_EXAMPLES = 4
FORMS = ["contact_zh", "signed", "tokened"]



def _channels() -> Channels:
    # A limit no fuzz run reaches: every case is one client, and a 429 would end the case before its body is read.
    limit = {"rate_limit_per_minute": 1_000_000}
    return Channels(webforms=WebForms(forms=[WebForm(name="contact_zh", **limit),
                                             WebForm(name="signed", verify="hmac", **limit),
                                             WebForm(name="tokened", verify="token", **limit)]))


def _form_fields_schema() -> dict:
    """The test forms' fields (the default contact form) as a JSON schema: lets valid bodies be generated."""
    form = WebForm(name="contact_zh")
    properties = {}
    for name, spec in form.fields.items():
        prop: dict = {"type": "string", "maxLength": spec.max_length}
        if spec.type == "choice":
            prop = {"type": "string", "enum": spec.choices}
        properties[name] = prop
    return {"type": "object", "properties": properties, "required": sorted(form.required_names),
            "additionalProperties": False}


def fuzzable_schema(app: FastAPI) -> dict:
    """The app's schema, narrowed to the test's forms: their names (plus an unknown one) and their fields.

    Without that nearly every generated name is unknown (404 before any body is read) and
    every generated field name unknown (422), so no case would get as far as being stored.
    """
    schema = copy.deepcopy(app.openapi())
    post = schema["paths"][INTAKE]["post"]
    for parameter in post["parameters"]:
        if parameter["name"] == "form_name":
            parameter["schema"] = {"type": "string", "enum": [*FORMS, "no_such_form"]}
    fields = _form_fields_schema()
    post["requestBody"]["content"]["application/json"]["schema"]["properties"]["fields"] = fields
    for kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        body = post["requestBody"]["content"][kind]["schema"]
        body["properties"].update(fields["properties"])
        body["required"] = fields["required"]
    return schema


@pytest.fixture
def environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "a-hash-key-for-the-fuzz-tests")
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_WEBFORM_SIGNED", json.dumps({"conn_type": "generic", "password": "s"}))
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_WEBFORM_TOKENED", "generic://:fuzz-token@")
    monkeypatch.setenv(console_auth.AUTH_ENV, "token")
    monkeypatch.setenv(console_auth.TOKENS_ENV, "cb-li:li-token-0123456789abcdef")
    monkeypatch.setenv(console_auth.SECRET_ENV, "fuzz-console-session-secret-0123456789")
    monkeypatch.setenv("FEEDBACK_SURVEY_KEY", "fuzz-survey-key-0123456789abcdef")


def test_the_schema_describes_every_intake_body():
    """What schemathesis needs to send bodies at all: the three encodings, the headers, the answers."""
    post = create_app(routers=[]).openapi()["paths"][INTAKE]["post"]
    assert set(post["requestBody"]["content"]) == {
        "application/json", "application/x-www-form-urlencoded", "multipart/form-data"}
    assert {p["name"] for p in post["parameters"]} >= {"Idempotency-Key", "X-Feedback-Timestamp",
                                                       "X-Feedback-Signature", "Authorization"}
    assert set(post["responses"]) >= {"202", "400", "401", "404", "413", "415", "422", "429", "503"}


def fuzz(operation, mode: GenerationMode, budget: int, base_url: str, answers: dict[str, set[int]],
         server_errors: list[str], unsatisfiable: list[str]) -> None:
    """`budget` generated cases of one operation over HTTP; statuses into `answers`, 5xx into `server_errors`."""

    @settings(max_examples=budget, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.generate])
    @given(case=operation.as_strategy(generation_mode=mode))
    def exercise(case):
        response = case.call(base_url=base_url, timeout=30)
        answers.setdefault(operation.label, set()).add(response.status_code)
        if response.status_code >= 500:
            server_errors.append(f"{operation.label}: {response.status_code} for {case.as_curl_command()[:300]}")

    try:
        exercise()
    except hypothesis.errors.Unsatisfiable:
        # Nothing to break (e.g. no parameters at all in negative mode): recorded, not a failure.
        answers.setdefault(operation.label, set())
        unsatisfiable.append(f"{operation.label} ({mode.value})")


def test_no_input_makes_the_app_answer_5xx(register, environment, caplog):
    caplog.set_level(logging.WARNING)
    app = create_app(engine=lambda: register, channels=_channels())
    root = FastAPI()
    root.mount("/feedback", app)
    recorder = StatusRecorder(root)
    schema = schemathesis.openapi.from_dict(fuzzable_schema(app))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert any(op.path == INTAKE and op.method.upper() == "POST" for op in operations)
    answers: dict[str, set[int]] = {}
    server_errors: list[str] = []
    unsatisfiable: list[str] = []
    with serve(recorder) as base:
        for operation in operations:
            budget = INTAKE_EXAMPLES if operation.path == INTAKE else OTHER_EXAMPLES
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz(operation, mode, budget, f"{base}/feedback", answers, server_errors, unsatisfiable)
    assert not server_errors, "\n".join(server_errors[:10])
    assert all(status < 500 for status in recorder.statuses), sorted(set(recorder.statuses))
    assert "Exception in ASGI application" not in caplog.text
    # The bodies reached the endpoint: some were stored, some refused for their content, not only 404s.
    intake = answers[f"POST {INTAKE}"]
    assert not [u for u in unsatisfiable if u.startswith(f"POST {INTAKE}")], unsatisfiable
    print("statuses per operation:", {label: sorted(codes) for label, codes in answers.items()})
    print("nothing to generate for:", unsatisfiable)
    assert 202 in intake and {400, 422} & intake and 401 in intake, intake
