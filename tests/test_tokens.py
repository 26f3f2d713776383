"""Roles at the door of the push API, scoped tokens, and tokens listed and revoked (web and CLI), audited."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from werkzeug.serving import make_server

from tests.conftest import _csrf, record
from tests.factories import queued_mention
from triage.cli import main
from triage.models import ApiToken, Delivery, Event, Source
from triage.people.accounts import OPERATOR, create_token


def _auth(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def _deliveries(db) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(Delivery))


def _sources(db) -> set[str]:
    db.rollback()
    return set(db.scalars(select(Source.name)))


@pytest.fixture
def tokens(db, make_user, make_source):
    """An unscoped token per role, a token scoped to "Zapier" (for an agent) and a read-only one, plus two sources."""
    make_source("Zapier", "api")
    make_source("Brandwatch", "api")
    out = {}
    for role in ("agent", "supervisor", "lead", "admin"):
        make_user(f"{role}-bot", role)
        out[role] = create_token(db, f"{role}-bot", "integration")
    out["scoped"] = create_token(db, "agent-bot", "zapier only", source="Zapier")
    out["read-only"] = create_token(db, "agent-bot", "dashboard", read_only=True)
    db.commit()
    return out


def _push(client, secret: str, source: str | None = None):
    url = "/api/v1/mentions" + (f"?source={source}" if source else "")
    return client.post(url, json=[record()], headers=_auth(secret))


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_agent_and_supervisor_tokens_cannot_push_into_a_source(client, db, tokens, role):
    response = _push(client, tokens[role], "Zapier")
    assert response.status_code == 403
    assert "needs a lead's or an admin's token, or a token scoped to that source" in response.get_json()["error"]
    assert _deliveries(db) == 0


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_agent_and_supervisor_tokens_cannot_create_a_source(client, db, tokens, role):
    for source in ("Brand new", None):  # None: the default source "API", which does not exist yet
        response = _push(client, tokens[role], source)
        assert response.status_code == 403 and "creating one needs a lead's" in response.get_json()["error"]
    assert _sources(db) == {"Zapier", "Brandwatch"} and _deliveries(db) == 0


@pytest.mark.parametrize("role", ["lead", "admin"])
def test_lead_and_admin_tokens_push_into_existing_and_new_sources(client, db, tokens, role):
    assert _push(client, tokens[role], "Zapier").status_code == 202
    created = _push(client, tokens[role], "Sprout")
    assert created.status_code == 202 and created.get_json()["source"] == "Sprout"
    assert "Sprout" in _sources(db) and _deliveries(db) == 2


def test_a_scoped_token_pushes_into_its_source_only_and_does_nothing_else(client, db, tokens):
    secret = tokens["scoped"]
    for source in (None, "Zapier", "zapier"):  # no ?source= means its own source
        response = _push(client, secret, source)
        assert response.status_code == 202 and response.get_json()["source"] == "Zapier", source
    other = _push(client, secret, "Brandwatch")
    assert other.status_code == 403 and "may only push into the source 'Zapier'" in other.get_json()["error"]
    assert _push(client, secret, "Sprout").status_code == 403
    assert "Sprout" not in _sources(db)
    mention = queued_mention(db)
    for method, url in (("GET", "/api/v1/queues"), ("GET", f"/api/v1/mentions/{mention.id}"),
                        ("POST", f"/api/v1/mentions/{mention.id}/claim")):
        response = client.open(url, method=method, headers=_auth(secret))
        assert response.status_code == 403 and "scoped to the source 'Zapier'" in response.get_json()["error"], url
    assert _deliveries(db) == 3 + 1  # three pushes, and the factory's own delivery


def test_a_read_only_token_reads_but_changes_nothing(client, db, tokens):
    mention = queued_mention(db)
    secret = tokens["read-only"]
    assert client.get("/api/v1/queues", headers=_auth(secret)).status_code == 200
    assert client.get(f"/api/v1/mentions/{mention.id}", headers=_auth(secret)).status_code == 200
    for url in ("/api/v1/mentions", f"/api/v1/mentions/{mention.id}/claim", "/api/v1/queues/complaints/claim-next"):
        response = client.post(url, json=[record()], headers=_auth(secret))
        assert response.status_code == 403 and "read-only" in response.get_json()["error"], url
    db.rollback()
    assert db.get(type(mention), mention.id).claimed_by_id is None
    assert db.scalar(select(ApiToken.last_used_at).where(ApiToken.read_only.is_(True))) is not None


def test_an_agents_unscoped_token_still_works_the_queues(client, db, tokens):
    mention = queued_mention(db)
    claimed = client.post(f"/api/v1/mentions/{mention.id}/claim", headers=_auth(tokens["agent"]))
    assert claimed.status_code == 200 and claimed.get_json()["claimed_by"] == "agent-bot"


# Managing tokens in the browser -------------------------------------------------------------------------------

def _form(client, url: str, data: dict):
    token = _csrf(client.get("/tokens").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def _events(db, action: str) -> list[Event]:
    db.rollback()
    return list(db.scalars(select(Event).where(Event.action == action).order_by(Event.id)))


def test_a_person_creates_a_token_seen_once_that_works_and_is_audited(client, db, login):
    me = login("agent")
    response = _form(client, "/tokens", {"name": "My script", "scope": "read-only"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    secret = page.split("data-token>", 1)[1].split("<", 1)[0]
    assert secret.startswith("trg_")
    listed = client.get("/tokens").get_data(as_text=True)
    assert secret not in listed and "My script" in listed and "read-only" in listed and "never" in listed
    assert client.get("/api/v1/queues", headers=_auth(secret)).status_code == 200
    (event,) = _events(db, "token created")
    assert event.actor.username == me and event.mention_id is None and event.detail["read_only"] is True
    assert secret not in repr((event.reason, event.detail))
    assert db.scalar(select(ApiToken.token_hash)) not in repr((event.reason, event.detail))


def test_an_agent_cannot_create_tokens_for_others_or_for_a_source(client, db, login, make_user, make_source):
    make_user("someone", "agent")
    make_source("Zapier", "api")
    login("agent")
    for data, message in (({"name": "x", "owner": "someone"}, "for themself only"),
                          ({"name": "x", "scope": "source", "source": "Zapier"}, "Only a lead or an admin")):
        response = _form(client, "/tokens", data)
        assert response.status_code == 403 and message in response.get_data(as_text=True)
    assert _form(client, "/tokens", {"name": "", "scope": "all"}).status_code == 400
    assert _form(client, "/tokens", {"name": "x", "scope": "root"}).status_code == 400
    db.rollback()
    assert db.scalar(select(func.count()).select_from(ApiToken)) == 0 and not _events(db, "token created")


def test_an_admin_creates_a_source_token_for_someone(client, db, login, make_user, make_source):
    make_user("zapier-bot", "agent")
    make_source("Zapier", "api")
    login("admin")
    response = _form(client, "/tokens", {"name": "Zapier", "owner": "zapier-bot", "scope": "source",
                                         "source": "Zapier"})
    assert response.status_code == 200
    secret = response.get_data(as_text=True).split("data-token>", 1)[1].split("<", 1)[0]
    assert _push(client, secret).status_code == 202
    missing = _form(client, "/tokens", {"name": "x", "scope": "source", "source": "Nowhere"})
    assert missing.status_code == 404 and "no source" in missing.get_data(as_text=True)


def test_revoking_a_token_stops_it_and_is_audited(app, client, db, login, make_user):
    me = login("agent")
    mine = create_token(db, me, "mine")
    make_user("other", "agent")
    theirs = create_token(db, "other", "theirs")
    db.commit()
    ids = {row.name: row.id for row in db.scalars(select(ApiToken))}
    listed = client.get("/tokens").get_data(as_text=True)
    assert "mine" in listed and "theirs" not in listed  # an agent sees their own tokens
    refused = _form(client, f"/tokens/{ids['theirs']}/revoke", {})
    assert refused.status_code == 403 and "their own tokens only" in refused.get_data(as_text=True)
    assert client.get("/tokens?user=other").status_code == 302  # and cannot look at someone else's
    assert _form(client, f"/tokens/{ids['mine']}/revoke", {}).status_code == 302
    assert client.get("/api/v1/queues", headers=_auth(mine)).status_code == 401
    assert client.get("/api/v1/queues", headers=_auth(theirs)).status_code == 200
    again = _form(client, f"/tokens/{ids['mine']}/revoke", {})
    assert again.status_code == 400 and "revoked already" in again.get_data(as_text=True)
    assert _form(client, "/tokens/999999/revoke", {}).status_code == 404
    (event,) = _events(db, "token revoked")
    assert event.actor.username == me and event.detail["token_id"] == ids["mine"]
    assert "revoked" in client.get("/tokens").get_data(as_text=True)


def test_a_lead_sees_and_revokes_anyones_token_but_creates_only_their_own(client, db, login, make_user):
    make_user("other", "agent")
    theirs = create_token(db, "other", "leaky")
    db.commit()
    login("lead")
    page = client.get("/tokens").get_data(as_text=True)
    assert "leaky" in page and "other" in page
    token_id = db.scalar(select(ApiToken.id))
    assert _form(client, f"/tokens/{token_id}/revoke", {"user": "other"}).status_code == 302
    assert client.get("/api/v1/queues", headers=_auth(theirs)).status_code == 401
    assert _form(client, "/tokens", {"name": "x", "owner": "other"}).status_code == 403


def test_token_forms_need_the_csrf_token(client, db, login):
    login("agent")
    assert client.post("/tokens", data={"name": "forged"}).status_code == 400
    db.rollback()
    assert db.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_the_tokens_page_needs_a_login(client):
    response = client.get("/tokens")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# The command line, as the operator ----------------------------------------------------------------------------

def test_cli_creates_lists_and_revokes_tokens_as_the_operator(client, db, make_user, make_source):
    make_user("bot", "agent")
    make_source("Zapier", "api")
    runner = CliRunner()
    created = runner.invoke(main, ["token", "create", "--user", "bot", "--name", "zap", "--source", "Zapier"])
    assert created.exit_code == 0, created.output
    secret = created.output.strip()
    assert _push(client, secret).status_code == 202
    read_only = runner.invoke(main, ["token", "create", "--user", "bot", "--read-only"])
    assert read_only.exit_code == 0, read_only.output
    listed = runner.invoke(main, ["token", "list", "--user", "bot"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split()[:4] == ["id", "user", "name", "may"] and len(lines) == 3
    assert "push into Zapier" in listed.output and "read-only" in listed.output and secret not in listed.output
    token_id = db.scalar(select(ApiToken.id).where(ApiToken.name == "zap"))
    revoked = runner.invoke(main, ["token", "revoke", str(token_id)])
    assert revoked.exit_code == 0 and "revoked token" in revoked.output
    assert _push(client, secret).status_code == 401
    events = _events(db, "token created") + _events(db, "token revoked")
    assert len(events) == 3 and all(e.actor_id is None and e.detail["by"] == OPERATOR for e in events)
    assert all(OPERATOR in e.reason for e in events)


@pytest.mark.parametrize(("args", "message"), [
    (["create", "--user", "bot", "--source", "Zapier", "--read-only"], "not both"),
    (["create", "--user", "bot", "--source", "Nowhere"], "no source 'Nowhere'"),
    (["create", "--user", "nobody"], "no user 'nobody'"),
    (["list", "--user", "nobody"], "no user 'nobody'"),
    (["revoke", "4242"], "no token 4242"),
])
def test_cli_token_mistakes_say_what_is_wrong(db, make_user, make_source, args, message):
    make_user("bot", "agent")
    make_source("Zapier", "api")
    result = CliRunner().invoke(main, ["token", *args])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


# In the browser ------------------------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
def server(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture
def page():
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield browser.new_page(viewport={"width": 1280, "height": 900})
        browser.close()


def test_a_lead_creates_copies_and_revokes_a_token_in_the_browser(server, page, db, make_user, make_source):
    make_user("lee", "lead")
    make_source("Zapier", "api")
    page.goto(f"{server}/login")
    page.fill("input[name=username]", "lee")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.click("text=API tokens")
    page.fill("input[name=name]", "Zapier webhook")
    page.select_option("select[name=scope]", "source")
    page.select_option("select[name=source]", "Zapier")
    page.click("text=Create token")
    secret = page.inner_text("[data-token]")
    assert secret.startswith("trg_")
    assert "push into Zapier" in page.inner_text("#tokens")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tokens.png"), full_page=True)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#tokens button:has-text('Revoke')")
    page.wait_for_selector("text=it is refused from now on")
    assert "revoked" in page.inner_text("#tokens") and secret not in page.content()
