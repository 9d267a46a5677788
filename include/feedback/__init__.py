"""The feedback pipeline's domain package: everything but the Airflow wiring.

Importable without Airflow, so logic is tested directly and DAG files stay thin.
"""

__version__ = "0.1.0"
