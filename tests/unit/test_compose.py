"""The deployment files (docker-compose.yaml, Dockerfile, .dockerignore), checked without a Docker engine.

What a broken deployment usually looks like is a variable the code reads but compose
never sets, a mount of a folder that was renamed, or an image whose Airflow differs
from the pin; these tests catch those statically. `docker compose config` runs too
when the compose plugin is installed, and is skipped (with the reason) otherwise.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
)
# Official extras behind compose profiles (debug, flower); checked like the others when present.
PROFILE_SERVICES = ("airflow-cli", "flower")
# One-shot or interactive services: no healthcheck, no dependency on airflow-init.
ONE_SHOT_SERVICES = {"airflow-init", "airflow-cli"}

# Folders the code lives in; every environment variable they read must reach the containers.
SOURCE_DIRS = ("include", "plugins", "dags")
# Our settings and connections. A literal ending in "_" is a prefix (e.g. for per-mailbox
# connections built at run time), not a variable, and is ignored.
ENV_NAME = re.compile(r"^(FEEDBACK_[A-Z0-9_]+|AIRFLOW_CONN_[A-Z0-9_]+)$")

# Variables the code reads that compose deliberately does NOT set. Keep this list short,
# and say for each why the containers do not need it.
NOT_NEEDED_IN_COMPOSE = {
    # Port of the embedded PostgreSQL (devtools/feedback_dev/postgres.py). That server is
    # started only when AIRFLOW_CONN_FEEDBACK_DB is unset; compose always sets it.
    "FEEDBACK_PG_PORT",
    # Optional path of a CJK font for the PDF reports (include/feedback/reports/fonts.py); the image
    # installs fonts-wqy-microhei, which is found without it.
    "FEEDBACK_REPORT_FONT",
    # The demo points the shipped platform entries at local simulators (devtools/feedback_dev/demo.py);
    # a deployment creates feedback_platform_<name> connections for the platforms it uses.
    "AIRFLOW_CONN_FEEDBACK_PLATFORM_ZENDESK",
    "AIRFLOW_CONN_FEEDBACK_PLATFORM_TRUSTPILOT",
    # The demo counts survey links' validity from the wall clock (include/feedback/callbacks/survey.py),
    # because its runs are dated in a simulated month; a deployment's runs are dated now, and the default fits.
    "FEEDBACK_SURVEY_EXPIRY_FROM",
    # Tuning knobs of the mail parse pool (include/feedback/channels/mail/pool.py); the defaults size the
    # pool to the worker's cores, and docs/operating.md says when to set them.
    "FEEDBACK_MAIL_PARSE_WORKERS",
    "FEEDBACK_MAIL_POOL_MIN_BATCH",
    # Same for triage's backlog workers (include/feedback/triage/workers.py; docs/operating.md, Triage).
    "FEEDBACK_TRIAGE_WORKERS",
    # The console's own token login (include/feedback/web/console_auth.py) is for running it
    # standalone under uvicorn; inside Airflow's API server (compose) it uses Airflow's login.
    "FEEDBACK_CONSOLE_TOKENS",
    "FEEDBACK_CONSOLE_SESSION_HOURS",
    # Optional extra supervisors; callbacks.yaml's team lists them too.
    "FEEDBACK_CONSOLE_SUPERVISORS",
    # Listening address of `make up` (devtools/feedback_dev/up.py), a checkout's local Airflow;
    # compose publishes the API server's port itself.
    "FEEDBACK_UP_HOST",
    # Development corpora for measuring triage (include/feedback/triage/corpus_eval.py, `make eval`);
    # never read by a DAG or a service.
    "FEEDBACK_CORPORA",
}
# Variables that are satisfied when another one is set in compose.
ALTERNATIVES = {
    # design.md: the vault keys come from the feedback_vault connection's password *or*
    # FEEDBACK_VAULT_KEYS; compose provides FEEDBACK_VAULT_KEYS (required).
    "AIRFLOW_CONN_FEEDBACK_VAULT": "FEEDBACK_VAULT_KEYS",
    # Survey links and console sessions are signed with their own secret when one is given, else
    # with a key derived from FEEDBACK_HASH_KEY (required in compose).
    "FEEDBACK_SURVEY_KEY": "FEEDBACK_HASH_KEY",
    "AIRFLOW_CONN_FEEDBACK_SURVEY": "FEEDBACK_HASH_KEY",
    "FEEDBACK_CONSOLE_SECRET": "FEEDBACK_HASH_KEY",
}

# Host folders mounted by compose that need not exist in git: runtime state that
# compose / airflow-init create at the first start (logs, and config/airflow.cfg
# written by `airflow config list`).
CREATED_AT_RUNTIME = {"logs", "config"}

# Host folders with code or SQL that must be mounted, and where.
CODE_MOUNTS = {
    "dags": "/opt/airflow/dags",
    "plugins": "/opt/airflow/plugins",
    "include": "/opt/airflow/include",
    "sql": "/opt/airflow/sql",
}

REQUIRED_PROVIDERS = ("postgres", "smtp", "imap", "http", "standard", "common-sql")

VAULT_KEYS_MESSAGE = "set FEEDBACK_VAULT_KEYS to comma-separated Fernet keys"
# A syntactically valid Fernet key (urlsafe base64 of 32 bytes), for config checks only.
DUMMY_FERNET_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
# Secrets compose must refuse to start without (no public default): variable -> where it is used.
REQUIRED_SECRETS = {
    "AIRFLOW__API_AUTH__JWT_SECRET": "x-airflow-common",
    "AIRFLOW__CORE__FERNET_KEY": "x-airflow-common",
    "_AIRFLOW_WWW_USER_PASSWORD": "airflow-init",
}
# Every required variable set to a dummy value: what a complete .env gives.
REQUIRED_ENV = {
    "FEEDBACK_VAULT_KEYS": DUMMY_FERNET_KEY,
    "FEEDBACK_HASH_KEY": "h" * 32,
    "AIRFLOW__API_AUTH__JWT_SECRET": "j" * 32,
    "AIRFLOW__CORE__FERNET_KEY": DUMMY_FERNET_KEY,
    "_AIRFLOW_WWW_USER_PASSWORD": "p" * 16,
}
# The Compose Specification's JSON schema, vendored with its source and licence (see its README.md).
COMPOSE_SCHEMA = ROOT / "tests" / "data" / "compose-spec" / "compose-spec.json"


# --- helpers -------------------------------------------------------------------------------


class MissingVariable(Exception):
    """A `${VAR:?message}` / `${VAR?message}` whose variable is not set."""


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation: $VAR, ${VAR}, :- - :? ? :+ +, nesting, and $$."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
            continue
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            value, i = _braced(text, i + 2, env)
            out.append(value)
        elif match := _NAME.match(text, i + 1):
            out.append(env.get(match.group(), ""))
            i = match.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _braced(text: str, start: int, env: dict[str, str]) -> tuple[str, int]:
    match = _NAME.match(text, start)
    if not match:
        raise ValueError(f"bad variable reference in {text!r}")
    name, i = match.group(), match.end()
    op = next((o for o in (":-", ":?", ":+", "-", "?", "+") if text.startswith(o, i)), "")
    i += len(op)
    depth, j = 1, i
    while depth:
        if j >= len(text):
            raise ValueError(f"unclosed ${{ in {text!r}")
        if text.startswith("$$", j):
            j += 2
            continue
        if text.startswith("${", j):
            depth, j = depth + 1, j + 2
            continue
        if text[j] == "}":
            depth -= 1
        j += 1
    arg, end = text[i : j - 1], j
    if not op and arg:
        raise ValueError(f"unsupported expression ${{{name}{arg}}} in {text!r}")
    value = env.get(name)
    is_set, non_empty = value is not None, bool(value)
    if op in (":-", "-"):
        use_default = not non_empty if op == ":-" else not is_set
        return (interpolate(arg, env) if use_default else value), end
    if op in (":?", "?"):
        if (op == ":?" and not non_empty) or (op == "?" and not is_set):
            raise MissingVariable(f"{name}: {interpolate(arg, env)}")
        return value, end
    if op in (":+", "+"):
        use_alt = non_empty if op == ":+" else is_set
        return (interpolate(arg, env) if use_alt else ""), end
    return value or "", end


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def services() -> dict:
    return compose()["services"]


def airflow_services() -> list[str]:
    return [*AIRFLOW_SERVICES, *(s for s in PROFILE_SERVICES if s in services())]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def defaults(value: str) -> str:
    """A compose value as it resolves with nothing set but the required variables."""
    return interpolate(value, REQUIRED_ENV)


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def bind_mounts(service: dict) -> dict[str, str]:
    """host source (resolved with defaults, relative to the repo) -> container target."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") != "bind":
                continue
            source, target = volume["source"], volume["target"]
        else:
            # Compose interpolates before it splits source:target[:mode].
            source, target = defaults(volume).split(":")[:2]
        source = defaults(source)
        if source.startswith((".", "/", "~")):
            mounts[source] = target
    return mounts


def named_volumes(service: dict) -> set[str]:
    names = set()
    for volume in service.get("volumes") or []:
        source = volume.get("source", "") if isinstance(volume, dict) else defaults(volume).split(":")[0]
        if source and not defaults(source).startswith((".", "/", "~")):
            names.add(source)
    return names


def env_names_in_source(source: str, filename: str = "<string>") -> set[str]:
    """Every string literal that is exactly a FEEDBACK_* or AIRFLOW_CONN_* name.

    Catches os.environ.get("X"), os.environ["X"], os.getenv("X"), `"X" in os.environ`
    and constants such as CONN_ENV = "AIRFLOW_CONN_FEEDBACK_DB" used with them, without
    having to follow how the name travels to the read.
    """
    tree = ast.parse(source, filename=filename)
    # Strings that name a Python object of the module (e.g. listed in __all__) are not
    # environment variables.
    python_names = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    } | {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and ENV_NAME.match(node.value)
        and not node.value.endswith("_")
        and node.value not in python_names
    }


def env_names_read_by_code() -> dict[str, list[str]]:
    """name -> files (relative) that mention it, over include/, plugins/, dags/."""
    found: dict[str, list[str]] = {}
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            for name in env_names_in_source(path.read_text(encoding="utf-8"), str(path)):
                found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def missing_from(env: dict[str, str], names: set[str]) -> set[str]:
    return {
        name
        for name in names - NOT_NEEDED_IN_COMPOSE
        if name not in env and ALTERNATIVES.get(name) not in env
    }


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    result = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if match := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;]+)", line):
            result[_normalise(match.group(1))] = match.group(2)
    return result


@cache
def docker_compose_available() -> str | None:
    """None when `docker compose` works here, else why not."""
    if shutil.which("docker") is None:
        return "the docker client is not installed"
    try:
        proc = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`docker compose version` could not run ({exc})"
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        return f"the docker compose plugin is not available (`docker compose version`: {detail[0] if detail else proc.returncode})"
    return None


# --- the helpers themselves ----------------------------------------------------------------


def test_interpolation_follows_compose_rules():
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("${SET:-d}/${UNSET:-d}/${EMPTY:-d}/${EMPTY-d}", env) == "v/d/d/"
    assert interpolate("${UNSET:-${SET}}-${UNSET:-${ALSO:-x}}", env) == "v-x"
    assert interpolate("$$HOSTNAME $SET", env) == "$HOSTNAME v"
    assert interpolate("${SET:+alt}${UNSET:+alt}", env) == "alt"
    with pytest.raises(MissingVariable, match="UNSET: needed"):
        interpolate("${UNSET:?needed}", env)
    # A required variable inside an unused default is not evaluated.
    assert interpolate("${SET:-${UNSET:?needed}}", env) == "v"


def test_scanner_finds_env_reads_and_ignores_prose_and_prefixes():
    source = """
import os
CONN_ENV = "AIRFLOW_CONN_FEEDBACK_DB"
PREFIX = "AIRFLOW_CONN_FEEDBACK_IMAP_"
a = os.environ.get("FEEDBACK_NEW_SETTING", "x")
b = os.getenv("FEEDBACK_OTHER")
c = os.environ["FEEDBACK_THIRD"]
d = "FEEDBACK_FOURTH" in os.environ
e = f"set FEEDBACK_PG_PORT to choose {a}"
f = os.environ.get("HOME")
"""
    assert env_names_in_source(source) == {
        "AIRFLOW_CONN_FEEDBACK_DB",
        "FEEDBACK_NEW_SETTING",
        "FEEDBACK_OTHER",
        "FEEDBACK_THIRD",
        "FEEDBACK_FOURTH",
    }
    # ... and a new read that compose lacks is reported, allowlisted ones are not.
    env = {"AIRFLOW_CONN_FEEDBACK_DB": "x", "FEEDBACK_VAULT_KEYS": "k"}
    names = {
        "AIRFLOW_CONN_FEEDBACK_DB",
        "FEEDBACK_NEW_SETTING",
        "FEEDBACK_PG_PORT",
        "AIRFLOW_CONN_FEEDBACK_VAULT",
    }
    assert missing_from(env, names) == {"FEEDBACK_NEW_SETTING"}


# --- docker-compose.yaml -------------------------------------------------------------------


def test_compose_has_the_expected_services():
    assert isinstance(compose(), dict), "docker-compose.yaml is not a YAML mapping"
    missing = {"postgres", "redis", "register-db", *AIRFLOW_SERVICES} - set(services())
    assert not missing, f"docker-compose.yaml lacks services: {sorted(missing)}"
    assert "x-airflow-common" in compose()


def test_airflow_services_use_the_common_block_and_our_image():
    common = compose()["x-airflow-common"]
    assert common.get("build") in (".", {"context": "."}), "the Airflow image must be built from ./Dockerfile"
    assert defaults(common["image"]) == "feedback-pipeline-airflow:latest"
    assert "apache/airflow" not in str(common["image"])
    common_env = environment(common)
    for name in airflow_services():
        service = services()[name]
        for key in ("build", "image", "volumes"):
            assert service.get(key) == common[key], f"{name}.{key} differs from x-airflow-common"
        assert service.get("user"), f"{name} has no user (AIRFLOW_UID handling)"
        env = environment(service)
        # `_`-prefixed names are switches of the image's entrypoint, which the official
        # file sets per service (airflow-init blanks _PIP_ADDITIONAL_REQUIREMENTS).
        differing = {k for k, v in common_env.items() if env.get(k) != v and not k.startswith("_")}
        assert not differing, f"{name} lacks or overrides common environment: {sorted(differing)}"
    assert defaults(common["user"]) == "50000:0"
    assert "${AIRFLOW_UID" in common["user"]
    assert services()["airflow-init"]["user"] == "0:0"


def test_common_environment_settings():
    env = environment(compose()["x-airflow-common"])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert defaults(env["AIRFLOW_CONN_FEEDBACK_SMTP"]) == "smtp://smtp:25"
    assert interpolate(env["AIRFLOW_CONN_FEEDBACK_SMTP"], {"FEEDBACK_SMTP_URI": "smtp://mailhog:1025"}) == (
        "smtp://mailhog:1025"
    )
    assert env["FEEDBACK_SQL_DIR"] == "/opt/airflow/sql"
    assert env["FEEDBACK_CONFIG_DIR"] == "/opt/airflow/include/config"
    assert env["FEEDBACK_LOCAL_DIR"] == "/opt/airflow/local"
    assert env["PYTHONPATH"].split(":")[:2] == ["/opt/airflow/include", "/opt/airflow/plugins"]
    mounts = {target: source for source, target in bind_mounts(compose()["x-airflow-common"]).items()}
    for setting in ("FEEDBACK_SQL_DIR", "FEEDBACK_CONFIG_DIR"):
        assert any(env[setting].startswith(target) for target in mounts), f"{setting} is not on a mount"
    volume_targets = {
        defaults(v).split(":")[1] for v in compose()["x-airflow-common"]["volumes"] if isinstance(v, str)
    }
    assert env["FEEDBACK_LOCAL_DIR"] in volume_targets, "FEEDBACK_LOCAL_DIR must be on a shared volume"


def test_vault_keys_are_required_with_a_clear_message():
    raw = environment(compose()["x-airflow-common"])["FEEDBACK_VAULT_KEYS"]
    assert raw == "${FEEDBACK_VAULT_KEYS:?" + VAULT_KEYS_MESSAGE + "}"
    with pytest.raises(MissingVariable, match=VAULT_KEYS_MESSAGE):
        interpolate(raw, {})
    with pytest.raises(MissingVariable):
        interpolate(raw, {"FEEDBACK_VAULT_KEYS": ""})
    assert interpolate(raw, {"FEEDBACK_VAULT_KEYS": "k1,k2"}) == "k1,k2"


def _interpolated(node, env: dict[str, str]):
    """The compose document with every string interpolated, as compose itself does before validating."""
    if isinstance(node, dict):
        return {key: _interpolated(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolated(value, env) for value in node]
    return interpolate(node, env) if isinstance(node, str) else node


@pytest.mark.parametrize("secret", sorted(REQUIRED_SECRETS))
def test_airflow_secrets_are_required_with_a_clear_message(secret):
    """No public default for the JWT secret, Airflow's Fernet key or the admin password."""
    where = REQUIRED_SECRETS[secret]
    block = compose()["x-airflow-common"] if where.startswith("x-") else services()[where]
    raw = environment(block)[secret]
    assert raw.startswith("${" + secret + ":?"), f"{secret} must be ${{{secret}:?message}}, not {raw!r}"
    assert "docs/deployment.md" in raw, f"{secret}: the message should say where to read how to generate it"
    without = {k: v for k, v in REQUIRED_ENV.items() if k != secret}
    with pytest.raises(MissingVariable, match=re.escape(secret)):
        _interpolated(compose(), without)
    with pytest.raises(MissingVariable):
        _interpolated(compose(), {**without, secret: ""})
    assert _interpolated(compose(), REQUIRED_ENV), "the file resolves once every secret is set"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for public in ("airflow_jwt_secret", "_AIRFLOW_WWW_USER_PASSWORD:-", "FERNET_KEY:-"):
        assert public not in text, f"docker-compose.yaml still has a public default: {public}"


def test_compose_runs_in_production_mode():
    """Containers never start an embedded register: FEEDBACK_LOCAL is 0 for every Airflow service."""
    for name in airflow_services():
        assert environment(services()[name]).get("FEEDBACK_LOCAL") == "0", name


@cache
def compose_validator():
    import json

    import jsonschema

    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def schema_errors(document) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in compose_validator().iter_errors(document)]


def test_compose_file_follows_the_compose_specification():
    """docker-compose.yaml validates against the Compose Specification's JSON schema, as written and resolved."""
    assert compose_validator().schema.get("title") == "Compose Specification"
    assert schema_errors(compose()) == []
    assert schema_errors(_interpolated(compose(), REQUIRED_ENV)) == []


def test_the_schema_check_catches_mistakes():
    """The validator is not blind: typical slips in a compose file are reported."""
    import copy

    broken = copy.deepcopy(compose())
    broken["services"]["redis"]["restart_policy"] = "always"              # not a service key
    worker = broken["services"]["airflow-worker"]
    worker["depends_on"] = {**worker["depends_on"], "redis": {"condition": "service_ready"}}
    broken["services"]["postgres"]["healthcheck"] = {"tests": ["CMD", "pg_isready"]}   # `test`
    errors = schema_errors(broken)
    assert any(e.startswith("services.redis") and "restart_policy" in e for e in errors), errors
    assert any(e.startswith("services.airflow-worker.depends_on") for e in errors), errors
    assert any(e.startswith("services.postgres.healthcheck") and "tests" in e for e in errors), errors
    assert {e.split(":")[0].split(".")[1] for e in errors} == {"redis", "airflow-worker", "postgres"}, errors


def test_healthchecks_present():
    for name, service in services().items():
        if name in ONE_SHOT_SERVICES:
            continue
        test = (service.get("healthcheck") or {}).get("test")
        assert test, f"service {name} has no healthcheck"
    assert "pg_isready" in services()["register-db"]["healthcheck"]["test"]


def test_depends_on_conditions():
    for name in airflow_services():
        deps = depends_on(services()[name])
        for backing in ("postgres", "redis", "register-db"):
            assert deps.get(backing) == "service_healthy", f"{name} must wait for {backing} to be healthy"
        if name not in ONE_SHOT_SERVICES:
            assert deps.get("airflow-init") == "service_completed_successfully", (
                f"{name} must start after airflow-init completed"
            )
    assert depends_on(services()["airflow-worker"]).get("airflow-apiserver") == "service_healthy"


def test_register_db_is_separate_from_airflow_metadata_db():
    register, metadata = services()["register-db"], services()["postgres"]
    assert register is not metadata
    assert str(register["image"]).startswith("postgres:16")
    register_volumes, metadata_volumes = named_volumes(register), named_volumes(metadata)
    assert register_volumes and metadata_volumes
    assert not register_volumes & metadata_volumes, "register-db must not share a volume with postgres"
    declared = set(compose().get("volumes") or {})
    assert register_volumes | metadata_volumes <= declared

    env = environment(compose()["x-airflow-common"])
    assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    reg_env = environment(register)
    for password_env in ({}, {"FEEDBACK_DB_PASSWORD": "s3cret"}):
        uri = interpolate(env["AIRFLOW_CONN_FEEDBACK_DB"], password_env)
        user, password = (
            interpolate(reg_env["POSTGRES_USER"], password_env),
            interpolate(reg_env["POSTGRES_PASSWORD"], password_env),
        )
        database = interpolate(reg_env["POSTGRES_DB"], password_env)
        assert uri == f"postgresql://{user}:{password}@register-db:5432/{database}"
    assert (
        defaults(env["AIRFLOW_CONN_FEEDBACK_DB"])
        == "postgresql://feedback:feedback@register-db:5432/feedback"
    )
    # An existing server replaces register-db with one variable (docs/deployment.md).
    external = "postgresql://feedback:pw@db.example.org:5432/feedback"
    assert interpolate(env["AIRFLOW_CONN_FEEDBACK_DB"], {"FEEDBACK_DB_URI": external}) == external


def test_airflow_init_runs_the_register_migrations():
    init = services()["airflow-init"]
    script = "\n".join(init["command"]) if isinstance(init["command"], list) else init["command"]
    assert re.search(r"^\s*feedback migrate\b", script, re.M), "airflow-init must run `feedback migrate`"
    assert "/entrypoint airflow version" in script, "the official init (db migrate, admin user) must stay"
    env = environment(init)
    assert env.get("_AIRFLOW_DB_MIGRATE") == "true" and env.get("_AIRFLOW_WWW_USER_CREATE") == "true"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^feedback\s*=\s*"feedback\.cli:main"', pyproject, re.M), "the `feedback` script"


def test_every_env_var_the_code_reads_is_set_in_compose():
    read = env_names_read_by_code()
    # Canary: if the scanner stops seeing the register connection, it has gone blind.
    assert "AIRFLOW_CONN_FEEDBACK_DB" in read, "scanner found no read of AIRFLOW_CONN_FEEDBACK_DB"
    for name in airflow_services():
        missing = missing_from(environment(services()[name]), set(read))
        assert not missing, (
            f"{name}: variables read by the code but not set in docker-compose.yaml: "
            + ", ".join(f"{m} (in {', '.join(read[m])})" for m in sorted(missing))
            + ". Add them to x-airflow-common's environment, or to NOT_NEEDED_IN_COMPOSE with a reason."
        )


def test_mounted_host_paths_exist():
    mounts = bind_mounts(compose()["x-airflow-common"])
    targets = {target: source for source, target in mounts.items()}
    for folder, target in CODE_MOUNTS.items():
        assert target in targets, f"{target} is not mounted"
        assert Path(targets[target]).name == folder, f"{target} is mounted from {targets[target]}"
    for source, target in mounts.items():
        path = (ROOT / source).resolve()
        if path.name in CREATED_AT_RUNTIME and target == f"/opt/airflow/{path.name}":
            continue  # created by compose / airflow-init at the first start
        assert path.is_dir() or path.is_file(), f"mounted host path {source} (-> {target}) does not exist"
    for name, service in services().items():
        for volume in named_volumes(service):
            assert volume in (compose().get("volumes") or {}), f"{name} uses undeclared volume {volume}"


# --- Dockerfile, .dockerignore, pins ----------------------------------------------------------


def test_dockerfile_copy_sources_exist():
    copies = [args for keyword, args in dockerfile_instructions() if keyword in ("COPY", "ADD")]
    assert copies, "the Dockerfile copies nothing"
    copied = set()
    for args in copies:
        parts = [p for p in args.split() if not p.startswith("--")]
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
            copied.add(source.rstrip("/"))
    assert {"requirements.txt", "constraints.txt", "pyproject.toml", "include"} <= copied


def test_the_image_carries_the_code_compose_mounts_and_runs_in_production_mode():
    """Without the checkout mounted (a deployment from the image alone) the DAGs, plugins, package and
    migrations must be where compose mounts them, and the image must not fall back to local mode."""
    copied = {}
    for keyword, args in dockerfile_instructions():
        if keyword in ("COPY", "ADD"):
            parts = [p for p in args.split() if not p.startswith("--")]
            for source in parts[:-1]:
                copied[source.strip("/").removeprefix("./")] = parts[-1].rstrip("/")
    mounts = bind_mounts(compose()["x-airflow-common"])
    for folder in ("dags", "plugins", "include", "sql"):
        target = next((t for s, t in mounts.items() if s.strip("/").removeprefix("./") == folder), None)
        assert target, f"compose does not mount ./{folder}"
        assert copied.get(folder) == target.rstrip("/"), (
            f"the Dockerfile must COPY {folder}/ to {target} (where compose mounts it)")
    env = {}
    for keyword, args in dockerfile_instructions():
        if keyword == "ENV":
            for name, value in re.findall(r"(\w+)=(\S+)", args):
                env[name] = value.strip("'\"")
    assert env.get("FEEDBACK_LOCAL") == "0", "the image must set ENV FEEDBACK_LOCAL=0 (production mode)"


def test_dockerfile_base_image_matches_the_pins():
    froms = [args for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert len(froms) == 1, froms
    match = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)(?:\s+AS\s+\S+)?", froms[0], re.I)
    assert match, f"unexpected base image {froms[0]!r}"
    airflow_version, python_version = match.groups()
    requirements, constraints = pins(ROOT / "requirements.txt"), pins(ROOT / "constraints.txt")
    assert airflow_version == requirements["apache-airflow"] == constraints["apache-airflow"]
    assert python_version == "3.11"
    requires_python = re.search(
        r'^requires-python\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M
    )
    assert requires_python and python_version + ".0" in SpecifierSet(requires_python.group(1))


def test_dockerfile_installs_pinned_dependencies_and_the_package():
    runs = [args for keyword, args in dockerfile_instructions() if keyword == "RUN"]
    assert any(
        "pip install" in run
        and re.search(r"-r\s+\S*requirements\.txt\b", run)
        and re.search(r"-c\s+\S*constraints\.txt\b", run)
        for run in runs
    ), "the Dockerfile must `pip install -r requirements.txt -c constraints.txt`"
    assert any(re.search(r"pip install .*(-e\s+)?/opt/airflow/?(\s|$)", run) for run in runs), (
        "the Dockerfile must install the project (pyproject.toml) so the `feedback` script exists"
    )
    users = [args for keyword, args in dockerfile_instructions() if keyword == "USER"]
    assert users and users[-1] == "airflow", "install and run as the airflow user"


def test_providers_pinned_alike_in_requirements_and_constraints():
    requirements, constraints = pins(ROOT / "requirements.txt"), pins(ROOT / "constraints.txt")
    for provider in REQUIRED_PROVIDERS:
        name = f"apache-airflow-providers-{provider}"
        assert name in requirements, f"{name} is not pinned in requirements.txt"
        assert constraints.get(name) == requirements[name], (
            f"{name}: requirements.txt pins {requirements[name]}, constraints.txt {constraints.get(name)}"
        )


def test_dockerignore_keeps_local_state_and_secrets_out():
    entries = {
        line.strip().strip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".venv", ".local", ".git", "logs", ".env"):
        assert required in entries, f".dockerignore must exclude {required}"
    assert entries & {"__pycache__", "**/__pycache__"}, ".dockerignore must exclude __pycache__"


# --- docker compose itself, when available ------------------------------------------------------


def test_docker_compose_config_accepts_the_file():
    reason = docker_compose_available()
    if reason:
        pytest.skip(f"{reason}; the static checks above cover the file instead")
    env = {k: v for k, v in os.environ.items() if k not in REQUIRED_ENV}
    # --env-file /dev/null: a developer's .env must not decide the outcome.
    base = ["docker", "compose", "--env-file", os.devnull, "-f", str(COMPOSE_FILE), "config", "-q"]
    ok = subprocess.run(
        base,
        cwd=ROOT,
        env={**env, **REQUIRED_ENV, "ENV_FILE_PATH": os.devnull},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, f"docker compose config failed:\n{ok.stderr}"
    refused = subprocess.run(
        base,
        cwd=ROOT,
        env={**env, **{k: v for k, v in REQUIRED_ENV.items() if k != "FEEDBACK_VAULT_KEYS"},
             "ENV_FILE_PATH": os.devnull},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0 and VAULT_KEYS_MESSAGE in refused.stderr, refused.stderr


def test_the_image_has_a_cjk_font_for_the_pdf_reports():
    """Chinese in the PDF reports needs an embeddable TrueType CJK font in the image (reports/fonts.py)."""
    text = DOCKERFILE.read_text()
    assert re.search(r"apt-get install[^\n]*\\?\s*(?:\n[^\n]*)?fonts-wqy-microhei", text), \
        "the Dockerfile must install fonts-wqy-microhei"
