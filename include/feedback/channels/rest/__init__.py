"""REST intake: platforms and form providers declared in channels.yaml, pulled page by page."""
