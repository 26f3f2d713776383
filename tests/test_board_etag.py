"""The live board and work list answer 304 Not Modified while what they show is unchanged, and never hide a change."""
from __future__ import annotations

import re
import time

import pytest

from tests.conftest import _csrf, record
from tests.factories import queued_mentions
from triage.db import utcnow

FRAGMENTS = ("/queues/fragment", "/queues/complaints/fragment", "/work/fragment?view=all&page=1")


def _as(app, make_user, username: str, role: str):
    """A browser of its own, logged in as a new user."""
    make_user(username, role)
    c = app.test_client()
    token = _csrf(c.get("/login").get_data(as_text=True))
    assert c.post("/login", data={"username": username, "password": "correct horse battery",
                                  "csrf_token": token}).status_code == 302
    return c


def _poll(c, url: str, etag: str | None = None):
    return c.get(url, headers={"If-None-Match": etag} if etag else {})


@pytest.fixture
def complaint(db):
    [m] = queued_mentions(db, "@northwind you lost my bag and nobody helps, refund me now")
    return m


@pytest.mark.parametrize("url", FRAGMENTS)
def test_an_unchanged_region_answers_304_with_the_same_etag(app, make_user, complaint, url):
    alex = _as(app, make_user, "alex", "agent")
    first = _poll(alex, url)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag.startswith('W/"') and "lost my bag" in first.get_data(as_text=True)
    time.sleep(1.1)  # the CSRF token in the HTML is signed afresh each second: it must not count as a change
    again = _poll(alex, url, etag)
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag and "no-cache" in again.headers["Cache-Control"]
    assert "Cookie" in again.headers["Vary"]
    assert _poll(alex, url, 'W/"something else"').status_code == 200


@pytest.mark.parametrize("url", FRAGMENTS)
def test_a_claim_changes_the_etag_and_the_region_comes_back_whole(app, make_user, complaint, url):
    watcher = _as(app, make_user, "jordan", "agent")
    etag = _poll(watcher, url).headers["ETag"]
    alex = _as(app, make_user, "alex", "agent")
    token = _csrf(alex.get(f"/mentions/{complaint.id}").get_data(as_text=True))
    assert alex.post(f"/mentions/{complaint.id}/claim", data={"csrf_token": token}).status_code == 302
    after = _poll(watcher, url, etag)
    assert after.status_code == 200 and after.headers["ETag"] != etag
    assert "held by Alex" in after.get_data(as_text=True)


@pytest.mark.parametrize("url", FRAGMENTS)
def test_a_new_mention_changes_the_etag(app, db, make_user, complaint, url):
    alex = _as(app, make_user, "alex", "agent")
    etag = _poll(alex, url).headers["ETag"]
    queued_mentions(db, "@northwind the app double charged me, fix it now")
    after = _poll(alex, url, etag)
    assert after.status_code == 200 and after.headers["ETag"] != etag
    assert "double charged me" in after.get_data(as_text=True)


def test_time_passing_is_a_change_too(app, db, make_user):
    """ "0 s ago" becoming "2 s ago" is something the board shows, so it is not hidden behind a 304."""
    queued_mentions(db, record(text="@northwind my flight is cancelled, refund me",
                               posted_at=utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")))
    alex = _as(app, make_user, "alex", "agent")
    first = _poll(alex, "/queues/fragment")
    time.sleep(2.1)
    later = _poll(alex, "/queues/fragment", first.headers["ETag"])
    assert later.status_code == 200
    assert re.findall(r"(\d+) s ago", later.get_data(as_text=True)) != re.findall(
        r"(\d+) s ago", first.get_data(as_text=True))


def test_users_and_roles_never_share_an_etag(app, make_user, complaint):
    """Two people may see the very same HTML; one's ETag still never earns the other a 304."""
    browsers = {name: _as(app, make_user, name, role) for name, role in (
        ("alex", "agent"), ("jordan", "agent"), ("lee", "lead"), ("sam", "supervisor"))}
    for url in FRAGMENTS:
        tags = {name: _poll(c, url).headers["ETag"] for name, c in browsers.items()}
        assert len(set(tags.values())) == len(tags), (url, tags)
        for name, c in browsers.items():
            for other, tag in tags.items():
                if other != name:
                    assert _poll(c, url, tag).status_code == 200, (url, name, other)


def test_filters_pages_and_queues_never_share_an_etag(app, make_user, complaint):
    lee = _as(app, make_user, "lee", "lead")
    urls = ["/queues/fragment", "/queues/complaints/fragment", "/queues/questions/fragment",
            "/work/fragment?view=all&page=1", "/work/fragment?view=all&page=2", "/work/fragment?view=mine&page=1",
            "/work/fragment?view=unassigned&page=1", "/work/fragment?view=all&page=1&intent=question",
            "/work/fragment?view=all&page=1&status=closed", "/work/fragment?view=all&page=1&queue=questions"]
    tags = {url: _poll(lee, url).headers["ETag"] for url in urls}
    assert len(set(tags.values())) == len(urls), tags
    for url in urls:
        for other in urls:
            if other != url:
                assert _poll(lee, url, tags[other]).status_code == 200, (url, other)


def test_the_page_carries_the_etag_of_the_region_it_polls(app, make_user, complaint):
    """So the first poll after a page load is already a 304 when nothing changed."""
    lee = _as(app, make_user, "lee", "lead")
    for page, region in (("/queues", "board"), ("/queues/complaints", "board"), ("/work", "rows"),
                         ("/work?view=unassigned&intent=complaint", "rows")):
        html = lee.get(page).get_data(as_text=True)
        match = re.search(rf'<div id="{region}" data-live="([^"]+)"\s+data-live-etag="([^"]+)"', html)
        assert match, page
        url, etag = (m.replace("&amp;", "&").replace("&#34;", '"') for m in match.groups())
        assert _poll(lee, url, etag).status_code == 304, (page, url)


def test_the_next_button_kept_through_304s_still_claims(app, make_user, complaint):
    """The DOM kept on a 304 holds an older CSRF token; it is still good for the session."""
    alex = _as(app, make_user, "alex", "agent")
    first = _poll(alex, "/queues/complaints/fragment")
    token = _csrf(first.get_data(as_text=True))
    time.sleep(1.1)
    assert _poll(alex, "/queues/complaints/fragment", first.headers["ETag"]).status_code == 304
    response = alex.post("/queues/complaints/next", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/mentions/{complaint.id}")
