"""Sessions end when they should: a copied session cookie or remember-me cookie is worthless after logout, a
password reset, a deactivation (and reactivation) or a role change. Driven through the real login form."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import _csrf
from triage.models import ApiToken, Event, User
from triage.people.accounts import create_token, user_for_session

PASSWORD = "correct horse battery"


def _log_in(client, username: str, password: str = PASSWORD, *, remember: bool = True) -> None:
    token = _csrf(client.get("/login").get_data(as_text=True))
    data = {"username": username, "password": password, "csrf_token": token}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def _post(client, url: str, data: dict | None = None):
    token = _csrf(client.get("/queues").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **(data or {})})


def _cookies(client) -> dict[str, str]:
    """The login cookies a thief (or a shared computer) would keep."""
    found = {name: client.get_cookie(name) for name in ("session", "remember_token")}
    assert all(found.values()), f"missing login cookies: {found}"
    return {name: cookie.value for name, cookie in found.items()}


def _replay(app, name: str, value: str) -> int:
    """Status of /queues in a fresh browser holding only that one cookie: 200 logged in, 302 to the login page."""
    browser = app.test_client()
    browser.set_cookie(name, value)
    return browser.get("/queues").status_code


def _assert_refused(app, cookies: dict[str, str]) -> None:
    for name, value in cookies.items():
        assert _replay(app, name, value) == 302, f"the old {name} cookie still logs in"


@pytest.fixture
def target(app, make_user):
    """An agent logged in with "keep me logged in", and the cookies their browser holds."""
    user = make_user("casey", "agent")
    browser = app.test_client()
    _log_in(browser, "casey")
    cookies = _cookies(browser)
    for name, value in cookies.items():  # the replay works at all: each cookie alone logs in before the change
        assert _replay(app, name, value) == 200, name
    return {"id": user.id, "browser": browser, "cookies": cookies}


def test_logout_ends_the_session_and_the_remember_cookie_everywhere(app, target):
    other_browser = app.test_client()
    _log_in(other_browser, "casey", remember=False)
    response = _post(target["browser"], "/logout")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    _assert_refused(app, target["cookies"])
    assert other_browser.get("/queues").status_code == 302  # logging out logs out every browser
    _log_in(other_browser, "casey")  # and logging in again works
    assert other_browser.get("/queues").status_code == 200


@pytest.mark.parametrize(("action", "data"), [
    ("password", {"password": "a new secret 42", "confirm": "a new secret 42"}),
    ("deactivate", {}),
    ("role", {"role": "lead", "team_id": ""}),
])
def test_an_admin_change_ends_every_session_of_that_user(app, login, client, target, action, data):
    login("admin")
    url = f"/admin/users/{target['id']}" + ("" if action == "role" else f"/{action}")
    assert _post(client, url, data).status_code == 302
    _assert_refused(app, target["cookies"])
    assert target["browser"].get("/queues").status_code == 302


def test_reactivating_does_not_bring_old_sessions_back(app, login, client, target):
    login("admin")
    assert _post(client, f"/admin/users/{target['id']}/deactivate").status_code == 302
    assert _post(client, f"/admin/users/{target['id']}/reactivate").status_code == 302
    _assert_refused(app, target["cookies"])
    fresh = app.test_client()
    _log_in(fresh, "casey")  # the person themself can log in again
    assert fresh.get("/queues").status_code == 200


def test_a_team_change_alone_keeps_the_sessions(app, db, login, client, target):
    from triage.models import Team

    team = Team(name="Night shift")
    db.add(team)
    db.commit()
    login("admin")
    assert _post(client, f"/admin/users/{target['id']}", {"role": "agent", "team_id": str(team.id)}).status_code == 302
    assert _replay(app, "session", target["cookies"]["session"]) == 200


def test_a_password_reset_revokes_the_api_tokens_and_the_page_says_so(app, db, login, client, target):
    secret = create_token(db, "casey", "zapier")
    db.commit()
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/queues", headers=auth).status_code == 200
    login("admin")
    before = client.get(f"/admin/users/{target['id']}").get_data(as_text=True)
    assert "revokes <strong>their 1 API token</strong>" in before
    response = _post(client, f"/admin/users/{target['id']}/password",
                     {"password": "a new secret 42", "confirm": "a new secret 42"})
    assert response.status_code == 302
    after = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "its 1 API token(s) are revoked" in after and "Every session of casey ended" in after
    assert client.get("/api/v1/queues", headers=auth).status_code == 401
    db.rollback()
    assert db.scalar(select(ApiToken.revoked_at)) is not None
    event = db.scalar(select(Event).where(Event.action == "password reset"))
    assert event.detail["tokens_revoked"] == 1 and event.mention_id is None
    assert "a new secret 42" not in repr((event.reason, event.detail))


def test_an_admin_resetting_their_own_password_stays_logged_in_here_only(app, db, login, client):
    me = login("admin")
    my_id = db.scalar(select(User.id).where(User.username == me))
    elsewhere = app.test_client()
    _log_in(elsewhere, me)
    response = _post(client, f"/admin/users/{my_id}/password",
                     {"password": "a new secret 42", "confirm": "a new secret 42"})
    assert response.status_code == 302
    assert client.get("/queues").status_code == 200
    assert elsewhere.get("/queues").status_code == 302


def test_role_and_account_changes_are_audited(app, db, login, client, target):
    login("admin")
    _post(client, f"/admin/users/{target['id']}", {"role": "supervisor", "team_id": ""})
    _post(client, f"/admin/users/{target['id']}/deactivate")
    _post(client, f"/admin/users/{target['id']}/reactivate")
    db.rollback()
    events = db.scalars(select(Event).where(Event.mention_id.is_(None)).order_by(Event.id)).all()
    assert [e.action for e in events] == ["user changed", "user deactivated", "user reactivated"]
    assert events[0].detail["before"]["role"] == "agent" and events[0].detail["after"]["role"] == "supervisor"
    assert all(e.actor is not None and e.actor.role == "admin" for e in events)


def test_cookies_from_before_generations_or_forged_log_nobody_in(db, make_user):
    user = make_user("old", "agent")
    for value in (str(user.id), f"{user.id}:", f"{user.id}:x", f"{user.id}:{10**30}", "", ":0", f"{user.id}:-1"):
        assert user_for_session(db, value) is None, value
    assert user_for_session(db, user.get_id()) is user
