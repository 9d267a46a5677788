"""A platform whose paging stops making progress, pulled into a real register over real HTTP.

The run fails with one line naming the platform (never an "ok" with records missing); the
pages read before the stall are committed with their positions, and the stored position is
the last good page, so the next run neither skips nor loses anything and fails the same way
until the API (or its entry in channels.yaml) is fixed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import scalar
from rest_server import Reply, RestServer, Seen, records

from feedback.channels.config import Platform
from feedback.channels.cursor import read_cursor
from feedback.channels.rest.ingest import ingest_platform
from feedback.channels.rest.source import PagerStalled

RUN = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)
MAPPING = {"external_id": "to_string(id)", "received_at": "created_at", "updated_at": "updated_at", "body": "body"}


@pytest.fixture
def server():
    srv = RestServer().start()
    yield srv
    srv.stop()


def looping_api(server: RestServer) -> Platform:
    """Pages 1 -> 2 -> 3 -> 2: the third page's next link leads back to the second."""
    pages = {1: (records(0, 3), "/v1/reviews?page=2"), 2: (records(3, 6), "/v1/reviews?page=3"),
             3: (records(6, 9), "/v1/reviews?page=2")}

    def handle(seen: Seen) -> Reply:
        chunk, link = pages[int(seen.query.get("page", 1))]
        return Reply(200, {"items": chunk, "links": {"next": link}})

    server.route("/v1/reviews", handle)
    return Platform.model_validate({
        "name": "loopy", "base_url": server.url + "/v1", "request": {"path": "/reviews"}, "records": "items",
        "pagination": {"type": "next_link", "next_path": "links.next"}, "mapping": MAPPING})


def test_a_looping_pager_fails_the_run_and_keeps_the_last_good_position(register, server):
    platform = looping_api(server)
    with pytest.raises(PagerStalled, match=r"^loopy: paging makes no progress at page 3"):
        ingest_platform(register, platform, None, RUN)
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE source = 'loopy'") == 6
    position = read_cursor(register, "platform", "loopy")
    assert position["next"] == {"url": f"{server.url}/v1/reviews?page=3"}
    # The next run resumes at page 3 (stored with its records), follows it to page 2, whose link
    # leads back to page 3 of this run: it fails again, loudly, and no record is stored twice.
    server.seen.clear()
    with pytest.raises(PagerStalled, match=r"^loopy: paging makes no progress at page 2"):
        ingest_platform(register, platform, None, RUN)
    assert [s.query.get("page") for s in server.seen] == ["3", "2"]
    assert read_cursor(register, "platform", "loopy")["next"] == {"url": f"{server.url}/v1/reviews?page=2"}
    assert scalar(register, "SELECT count(DISTINCT external_id) FROM feedback.intake WHERE source = 'loopy'") == 9
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE source = 'loopy'") == 9
