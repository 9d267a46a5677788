"""`make up`: a local Airflow (UI on localhost:8080) against the same register as the demo.

Runs `airflow standalone` (api-server, scheduler, dag-processor, triggerer) with
the local environment, the SMTP capture server alongside, and the register
migrated first, so the DAGs a user sees in the UI work immediately.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_local_airflow(port: int = 8080) -> int:
    from feedback.db.engine import display_url, get_engine, libpq_url
    from feedback.db.migrations import migrate
    from feedback.local import airflow_env, smtp_sink

    engine = get_engine()
    migrate(engine)
    sink = smtp_sink.start()
    env = airflow_env.airflow_env(register_url=libpq_url(engine), smtp_port=sink.port)
    env["AIRFLOW__API__PORT"] = str(port)
    print(f"register: {display_url(engine)}", file=sys.stderr)
    print(f"mails are captured in {sink.folder} (SMTP 127.0.0.1:{sink.port})", file=sys.stderr)
    print(
        f"starting Airflow on http://localhost:{port}; the admin password is printed below and stored in "
        f"{Path(env['AIRFLOW_HOME']) / 'simple_auth_manager_passwords.json.generated'} (Ctrl-C to stop)",
        file=sys.stderr,
    )
    airflow = str(Path(sys.executable).parent / "airflow")
    try:
        return subprocess.call([airflow, "standalone"], env={**os.environ, **env})
    except KeyboardInterrupt:
        return 130
    finally:
        sink.stop()
