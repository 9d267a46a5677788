"""Month-end and weekly reports: figures from SQL, rendered to Excel and PDF, archived and mailed."""
