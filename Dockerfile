# The Airflow image of the feedback pipeline: the official image at the Airflow and
# Python versions pinned in requirements.txt / pyproject.toml, plus our pinned
# dependencies and the `feedback` package with its operator CLI.
# Built by `docker compose build` (docker-compose.yaml: `build: .`).
FROM apache/airflow:3.3.2-python3.11

# A CJK TrueType font, embedded into the PDF reports so Chinese renders in any viewer.
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && apt-get clean && rm -rf /var/lib/apt/lists/*

USER airflow
WORKDIR /opt/airflow

# Dependencies first, so editing code does not reinstall them. requirements.txt pins
# apache-airflow to the base image's version, so pip keeps the installed Airflow;
# constraints.txt pins every transitive package (the same lock as .venv). Runtime only:
# tests, tooling and the development package devtools/ (demo, sample data, simulators, local
# servers; requirements-dev.txt, devtools/requirements.txt) stay out of the image.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/airflow/
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt -c /opt/airflow/constraints.txt

# The package (include/feedback, declared by pyproject.toml), the register migrations, the
# DAGs and the Airflow plugins (the image's dags and plugins folders, AIRFLOW_HOME=/opt/airflow).
# compose mounts ./include, ./sql, ./dags and ./plugins over these; the copies make the image
# usable on its own (e.g. `feedback migrate`, or a deployment without the checkout).
COPY --chown=airflow:0 pyproject.toml /opt/airflow/
COPY --chown=airflow:0 include/ /opt/airflow/include/
COPY --chown=airflow:0 sql/ /opt/airflow/sql/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/

# Production mode, as under compose: no embedded register, generated keys or other checkout
# conveniences; a missing feedback_db connection is an error (include/feedback/paths.py).
ENV FEEDBACK_LOCAL=0

# Editable install: `import feedback` resolves to /opt/airflow/include/feedback (the mounted
# folder under compose), so paths.py finds /opt/airflow as the project root, and the
# `feedback` console script lands on PATH (/home/airflow/.local/bin). Build isolation
# fetches setuptools (pyproject's build-system), which the image's venv may not have.
RUN pip install --no-cache-dir --no-deps -e /opt/airflow && command -v feedback

# Local state (outbox .eml files, report archive); compose mounts the `feedback-local`
# volume here, which starts with this folder's ownership. Group 0 may write, for any AIRFLOW_UID.
RUN mkdir -p /opt/airflow/local/outbox /opt/airflow/local/archive \
    && chmod -R g+rwX /opt/airflow/local
