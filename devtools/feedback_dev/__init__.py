"""Development tooling of the feedback pipeline, kept out of the product package and its image.

The demo (`feedback demo`), the seeded sample generator (`sample`), the platform simulators
(`platform_api`), the callback team of the demo (`callback_team`) and local stand-ins for a
deployment's services: embedded register (`postgres`), SMTP capture (`smtp_sink`), Dovecot
harness (`dovecot`), local Airflow (`up`). The product reaches the embedded register and the
development commands through entry points (devtools/pyproject.toml), never by name.
"""
