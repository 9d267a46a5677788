"""Web-form intake: JSON drops on disk and submissions landed by the web app, moved into the register."""
