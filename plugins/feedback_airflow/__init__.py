"""Airflow-facing glue for the feedback pipeline: connections, DAG defaults, assets.

Kept apart from the `feedback` package so the domain logic imports and tests
without Airflow; DAG files import from here and call `feedback.*` inside tasks.
"""
