"""Local stand-ins for a deployment's services: embedded register, SMTP capture, Airflow home."""
