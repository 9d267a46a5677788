"""The web-form intake endpoint: company websites post their feedback forms here.

A FastAPI app (`feedback.web.app.create_app`) that Airflow's API server mounts at
`/feedback` through the `feedback_web` plugin, or that runs alone under uvicorn.
It only lands submissions (`feedback.webform_submission`); moving them into intake
is the `feedback_ingest_webforms` DAG's job, like every other channel.
"""
