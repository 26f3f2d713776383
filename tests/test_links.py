"""Links and redirects: stored URLs become links only when they are web pages, and `next` only leads back into the
app. Rows already stored can hold anything (the door checks new posts), so the pages must be safe on their own."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import update

from tests.conftest import _csrf
from tests.factories import queued_mention
from triage.models import Mention, Notification, Response, User
from triage.web.navigation import is_app_path, safe_url

NOT_WEB_PAGES = [
    "javascript:alert(document.cookie)", "JaVaScRiPt:alert(1)", "  javascript:alert(1)", "java\tscript:alert(1)",
    "java\nscript:alert(1)", "\x01javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
    "DATA:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "vbscript:msgbox(1)", "file:///etc/passwd",
    "https:evil.example", "https:/evil.example", "//evil.example/post", "/relative/post", "http://", "https://[::1",
    "ftp://example.com/x", "mailto:someone@example.com",
]
WEB_PAGES = ["https://x.com/dana_w/status/1861", "http://example.com/post?id=1&b=2", "HTTPS://Example.com/A"]
OFF_SITE = [
    "https://evil.example/", "http://evil.example", "//evil.example/", "///evil.example", "/\\evil.example",
    "\\\\evil.example", "\\/evil.example", "https:evil.example", "https:/evil.example", "/\t/evil.example",
    "/\n/evil.example", "/\r\n/evil.example", " //evil.example", "\t//evil.example", "javascript:alert(1)",
    "data:text/html,hi", "evil.example", "@evil.example", "",
]
ON_SITE = ["/work?view=mine&page=2", "/queues/questions", "/mentions/12#reply", "/", "/%0a/evil.example"]


@pytest.mark.parametrize("url", NOT_WEB_PAGES)
def test_a_url_that_is_not_a_web_page_is_no_link(url):
    assert safe_url(url) == ""


@pytest.mark.parametrize("url", WEB_PAGES)
def test_a_web_page_stays_a_link(url):
    assert safe_url(url) == url


@pytest.mark.parametrize("target", [*OFF_SITE, "/\x00/evil", "/\x7f/evil", "/\u0085/evil"])
def test_a_target_off_this_site_is_not_an_app_path(app, target):
    with app.test_request_context("/"):
        assert not is_app_path(target)


@pytest.mark.parametrize("target", ON_SITE)
def test_a_path_of_this_app_is_one(app, target):
    with app.test_request_context("/"):
        assert is_app_path(target)


def _hrefs(html: str) -> list[str]:
    import html as html_lib

    return [html_lib.unescape(h) for h in re.findall(r'href="([^"]*)"', html)]


def _store_url(db, mention: Mention, url: str) -> None:
    """As an old row (or a path that skipped the door) would hold it."""
    db.execute(update(Mention).where(Mention.id == mention.id).values(url=url))
    db.commit()


@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", "data:text/html,<script>alert(1)</script>",
                                 " JavaScript:alert(1)", "java\tscript:alert(1)"])
def test_the_item_page_links_no_script_url(client, db, login, url):
    login("agent")
    mention = queued_mention(db)
    _store_url(db, mention, url)
    db.add(Response(mention_id=mention.id, text="posted by hand", origin="app", network="x", url=url,
                    delivery_status="manual"))
    db.commit()
    page = client.get(f"/mentions/{mention.id}").get_data(as_text=True)
    assert "to be posted by hand" in page  # the reply is shown, without a link
    assert not [h for h in _hrefs(page) if not h.startswith(("/", "#", "http://", "https://"))], _hrefs(page)
    assert "view on X" not in page and "open the post" not in page


def test_the_item_page_links_a_web_url_and_its_manual_reply(client, db, login):
    login("agent")
    mention = queued_mention(db)
    _store_url(db, mention, "https://x.com/dana_w/status/1861")
    db.add(Response(mention_id=mention.id, text="posted by hand", origin="app", network="x",
                    url="https://x.com/dana_w/status/1861", delivery_status="manual"))
    db.commit()
    page = client.get(f"/mentions/{mention.id}").get_data(as_text=True)
    assert _hrefs(page).count("https://x.com/dana_w/status/1861") == 2
    assert "view on X" in page and "open the post" in page


def _token(client, path: str) -> str:
    return _csrf(client.get(path).get_data(as_text=True))


def _off_site(post, default: str) -> list[str]:
    """Post with each off-site `next`; the targets that were followed (anywhere but `default`)."""
    followed = []
    for target in OFF_SITE:
        response = post(target)
        assert response.status_code in (302, 303), response.get_data(as_text=True)[:300]
        location = response.headers["Location"]
        if location != default or urlsplit(location).netloc:
            followed.append(f"{target!r} -> {location}")
    return followed


def test_item_actions_go_back_only_into_the_app(client, db, login):
    login("agent")
    mention = queued_mention(db)
    token = _token(client, f"/mentions/{mention.id}")
    assert not _off_site(lambda target: client.post(f"/mentions/{mention.id}/notes", data={
        "csrf_token": token, "text": "called them", "next": target}), f"/mentions/{mention.id}")
    claimed = client.post(f"/mentions/{mention.id}/claim", data={"csrf_token": token,
                                                                  "next": "https://evil.example/"})
    assert claimed.status_code == 302 and claimed.headers["Location"] == f"/mentions/{mention.id}"


def test_marking_notifications_read_goes_back_only_into_the_app(client, db, login):
    username = login("agent")
    user = db.query(User).filter_by(username=username).one()
    db.add(Notification(user_id=user.id, kind="assigned", message="Dana assigned you a mention"))
    db.commit()
    token = _token(client, "/notifications")
    assert not _off_site(lambda target: client.post("/notifications/read", data={
        "csrf_token": token, "next": target}), "/notifications")


def test_bulk_assignment_goes_back_only_into_the_app(client, db, login, make_user):
    login("lead")
    make_user("sam")
    mention = queued_mention(db)
    token = _token(client, "/work")
    assert not _off_site(lambda target: client.post("/work/assign", data={
        "csrf_token": token, "mention": str(mention.id), "user": "sam", "next": target}), "/work")


def test_login_goes_on_only_into_the_app(app, make_user):
    make_user("casey")

    def log_in(target: str):
        client = app.test_client()  # a fresh visitor each time: a logged-in one is sent to the queues anyway
        token = _token(client, "/login")
        return client.post("/login", query_string={"next": target}, data={
            "username": "casey", "password": "correct horse battery", "csrf_token": token})

    assert not _off_site(log_in, "/queues")


def test_a_nul_in_next_is_refused(client, db, login):
    login("agent")
    mention = queued_mention(db)
    token = _token(client, f"/mentions/{mention.id}")
    response = client.post(f"/mentions/{mention.id}/notes", data={"csrf_token": token, "text": "hi",
                                                                  "next": "/\x00//evil.example"})
    assert response.status_code == 400 and "NUL" in response.get_data(as_text=True)


def test_a_next_inside_the_app_is_followed(client, db, login, make_user):
    login("lead")
    make_user("sam")
    mention = queued_mention(db)
    token = _token(client, "/work")
    for path, data, target in [
        (f"/mentions/{mention.id}/notes", {"text": "called them"}, "/work?view=mine&page=1"),
        ("/work/assign", {"mention": str(mention.id), "user": "sam"}, "/work?view=unassigned"),
        ("/notifications/read", {}, "/queues/questions"),
    ]:
        response = client.post(path, data={"csrf_token": token, "next": target, **data})
        assert response.status_code == 302 and response.headers["Location"] == target, path


def test_every_link_in_the_templates_is_built_by_the_app_or_checked():
    """A stored URL may reach an href, src or action only through `safe_url`; the app's own links use url_for
    (directly, or through a variable a template sets from url_for, such as the mention rows' `href`)."""
    from triage.web import TEMPLATES

    texts = {t.name: t.read_text() for t in sorted(TEMPLATES.glob("*.html"))}
    unchecked = []
    for name, text in texts.items():
        for expr in re.findall(r'(?:href|src|action|formaction)="\{\{\s*(.*?)\s*\}\}', text):
            if expr.startswith(("url_for(", "link(")) or expr.endswith("|safe_url"):
                continue
            if re.fullmatch(r"\w+", expr):  # a variable: every template that sets it sets it from url_for
                tags = [tag for t in texts.values() for tag in re.findall(r"\{%-?\s*(?:set|with)\s+(.*?)-?%\}", t)]
                sources = [v for tag in tags for v in re.findall(rf"(?:^|,)\s*{expr}\s*=\s*([^,]+)", tag)]
                if sources and all(v.strip().startswith("url_for(") for v in sources):
                    continue
            unchecked.append(f"{name}: {expr}")
    assert not unchecked, "\n".join(unchecked)
