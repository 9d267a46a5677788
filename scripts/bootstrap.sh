#!/usr/bin/env bash
# Creates .venv with the pinned dependencies (requirements-dev.txt: the runtime set of
# requirements.txt plus tests, tooling and devtools/requirements.txt), the product package and
# the development package (devtools/: demo, sample data, simulators, local servers), or reuses
# it when the lock has not changed. Every make target goes through here, so a bare machine with Python 3.11
# and access to the package registry is enough.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
stamp="$venv/.feedback-lock"
log="$root/.local/bootstrap.log"
mkdir -p "$root/.local"

say() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

lock_hash() {
  cat requirements.txt requirements-dev.txt requirements-bench.txt constraints.txt pyproject.toml \
    devtools/requirements.txt devtools/pyproject.toml | sha256sum | cut -d' ' -f1
}

want="$(lock_hash)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say ".venv is up to date (lock $(printf '%.12s' "$want"))"
  exit 0
fi

python="$(find_python)" || die "Python 3.11 is required but was not found (tried \$PYTHON, python3.11, python3); install Python 3.11 or set PYTHON=/path/to/python3.11"

say "using $python ($("$python" -c 'import sys; print(sys.version.split()[0])'))"
if [ ! -x "$venv/bin/python" ]; then
  say "creating .venv"
  "$python" -m venv "$venv" || die "could not create .venv with $python (is the venv module installed? on Debian: apt-get install python3.11-venv)"
fi

pip=("$venv/bin/python" -m pip --disable-pip-version-check)
say "checking access to the package registry"
if ! "${pip[@]}" download --no-deps --quiet --dest "$root/.local/.pipcheck" "six==1.17.0" >"$log" 2>&1; then
  die "cannot reach the Python package registry (pip download failed; see .local/bootstrap.log); check network access or PIP_INDEX_URL"
fi
rm -rf "$root/.local/.pipcheck"

say "upgrading pip, setuptools and wheel to the pinned versions"
"${pip[@]}" install --progress-bar off -c constraints.txt pip setuptools wheel >>"$log" 2>&1 \
  || { tail -n 20 "$log" >&2; die "could not install pip/setuptools/wheel; see .local/bootstrap.log"; }

# pip's own lines (hundreds) go to the log; the terminal and CI get one line per phase and, while a
# phase is quiet (installing ~250 packages takes a minute or two), a heartbeat every
# $BOOTSTRAP_HEARTBEAT seconds with the count so far.
heartbeat="${BOOTSTRAP_HEARTBEAT:-15}"
pip_with_progress() {
  local from started=$SECONDS last=$SECONDS phase="" now collected pid rc=0
  from=$(( $(wc -l <"$log") + 1 ))
  "${pip[@]}" install --progress-bar off "$@" >>"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    collected=$(tail -n +"$from" "$log" | grep -c '^Collecting' || true)
    if tail -n +"$from" "$log" | grep -q '^Installing collected packages'; then now=install; else now=download; fi
    if [ "$now" != "$phase" ]; then
      phase=$now last=$SECONDS
      if [ "$phase" = install ]; then
        say "  installing $collected packages into .venv ($((SECONDS - started)) s so far; this is the long step)"
      else
        say "  resolving and downloading the pinned packages"
      fi
    elif [ $((SECONDS - last)) -ge "$heartbeat" ]; then
      last=$SECONDS
      if [ "$phase" = install ]; then say "  ... still installing ($((SECONDS - started)) s)"
      else say "  ... $collected packages collected ($((SECONDS - started)) s)"; fi
    fi
  done
  wait "$pid" || rc=$?
  [ "$rc" -ne 0 ] || say "  $(tail -n +"$from" "$log" | grep -c '^Collecting' || true) packages in $((SECONDS - started)) s"
  return "$rc"
}

say "installing pinned dependencies (first run: a few minutes; pip's full output in .local/bootstrap.log)"
status=0
pip_with_progress -r requirements-dev.txt -c constraints.txt || status=$?
if [ "$status" -ne 0 ]; then
  tail -n 20 "$log" >&2
  die "installing the pinned dependencies failed; the full log is in .local/bootstrap.log"
fi
say "installing the feedback package and its CLI, and the development package (both editable)"
"${pip[@]}" install --no-deps --no-build-isolation -e . -e devtools >>"$log" 2>&1 \
  || { tail -n 20 "$log" >&2; die "installing the feedback packages failed; see .local/bootstrap.log"; }
"${pip[@]}" check >>"$log" 2>&1 || { tail -n 20 "$log" >&2; die "pip check found broken requirements; see .local/bootstrap.log"; }

echo "$want" >"$stamp"
say "done: $("$venv/bin/python" -c 'import airflow, pandas, sqlalchemy; print("airflow", airflow.__version__, "| pandas", pandas.__version__, "| sqlalchemy", sqlalchemy.__version__)' 2>/dev/null)"
