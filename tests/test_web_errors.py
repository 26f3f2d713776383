"""No 500s on the web pages: ids past the database's range, huge, negative, malformed, repeated, unicode and empty
query values, odd methods and odd form fields all get a 4xx with a message (the error page), never a crash."""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import quote

import pytest
from sqlalchemy import select

from tests.factories import queued_mention, queued_mentions
from tests.test_authorization import LAST, World
from triage.models import User
from triage.work import queues

HUGE = str(2**63)
PAST_INT32 = str(2**31)  # ids are 32-bit on PostgreSQL: looking one up past that crashed its cast
# Each sent as typed (percent-encoded as a browser would); "%ED%A0%80" is a lone surrogate, "%FF" no UTF-8 at all.
BAD = ["", " ", "-1", "0", PAST_INT32, HUGE, "9" * 5000, "abc", "²", "١٢", "1e9", "9999-12-31", "0001-01-01",
       "2026-13-45", "2026-11-20T10:00:00_" + HUGE, "x_1", "9999-12-31T23:59:59_1", "é中", "%ED%A0%80", "%FF",
       "%F0%9F%92%A9", "[]", "'; drop table users; --", "a" * 3000]
PAGES = {
    "/work": ["view", "page", "queue", "network", "intent", "sentiment", "status", "owner", "tags"],
    "/work/fragment": ["view", "page", "queue", "owner", "status", "tags"],
    "/queues": [], "/queues/fragment": [], "/notifications": [], "/sources": [], "/tokens": ["user"],
    "/reports": ["since", "until", "queue", "team", "agent", "intent", "network", "sentiment", "day", "target",
                 "sla", "breached", "answered", "resolved", "holder", "open_on", "clock"],
    "/reports/items": ["since", "until", "queue", "team", "agent", "intent", "network", "sentiment", "day",
                       "target", "sla", "breached", "answered", "resolved", "holder", "open_on", "clock", "after"],
    "/reports/export/items.csv": ["since", "until", "queue", "team", "agent", "day", "holder", "open_on", "clock"],
    "/reports/export/agent.csv": ["since", "until", "team", "answered"],
    "/audit": ["q", "action", "actor", "mention", "since", "until", "before"],
    "/audit.csv": ["q", "action", "actor", "mention", "since", "until", "before"],
    "/sla": [], "/model": [], "/model/status": [],
    "/routing": ["text", "network", "followers"], "/saved-replies": [], "/admin/users": [], "/admin/teams": [],
    "/sources/rss/new": [],
}
# Every form field name the templates use, and the per-day ones the SLA form builds.
FORM_FIELDS = sorted({"name", "intent", "network", "sentiment", "user", "text", "team_id", "urgent", "until",
                      "since", "role", "queue", "password", "owner", "mention", "enabled", "direction", "view",
                      "username", "url", "to", "title", "timezone", "team", "tags", "status", "source", "scope",
                      "saved_reply_id", "resolution_minutes", "reason", "queue_id", "q", "position", "payload",
                      "min_priority", "interval", "holidays", "followers", "first_response_minutes",
                      "escalate_breached_urgent", "display_name", "description", "confirm", "business_hours",
                      "brand_handles", "body", "back", "author_id", "around_the_clock", "agent", "actor", "action",
                      "mon_opens", "mon_closes", "leaving", "next"})


def _csrf(client, path: str = "/notifications") -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _is_error_page(response) -> bool:
    return 'class="card error-page"' in response.get_data(as_text=True)


def _message(response) -> str:
    """What the page says went wrong: the error page's text, or an error flashed over the page itself."""
    html = response.get_data(as_text=True)
    match = (re.search(r'<section class="card error-page">\s*<h1>[^<]*</h1>\s*<p>([^<]*)</p>', html)
             or re.search(r'<p class="flash error" role="status">([^<]*)</p>', html))
    return unescape(match.group(1)) if match else ""


# The defects the issue names, one by one ---------------------------------------------------------------------

@pytest.mark.parametrize("mention_id", [PAST_INT32, HUGE, str(2**64), "9" * 30, "9" * 5000])
def test_a_mention_id_past_the_database_range_is_not_found(client, db, login, mention_id):
    login("agent")
    response = client.get(f"/mentions/{mention_id}")
    assert response.status_code == 404 and _is_error_page(response)


def test_every_route_with_an_id_answers_404_for_one_past_the_range(app, client, db, login):
    """Every <int:...> argument of every route, web and API, with ids of 2^63 and more."""
    me = login("admin")
    world = World(db, me)
    token = _csrf(client)
    headers = {"Authorization": f"Bearer {world.api_token}"}
    wrong = []
    for rule in app.url_map.iter_rules():
        ints = re.findall(r"<int:(\w+)>", rule.rule)
        if not ints or rule.endpoint == LAST:
            continue
        for huge in (PAST_INT32, HUGE, str(2**64), "9" * 40):
            values = {**world.args(rule.endpoint), **dict.fromkeys(ints, huge)}
            path = re.sub(r"<(?:[^:<>]+:)?(\w+)>", lambda m, values=values: str(values[m.group(1)]), rule.rule)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if path.startswith("/api/"):
                    response = client.open(path, method=method, json={} if method == "POST" else None,
                                           headers=headers)
                else:
                    response = client.open(path, method=method, data={"csrf_token": token} if method == "POST"
                                           else None)
                if response.status_code != 404:
                    wrong.append(f"{method} {path[:80]} answered {response.status_code}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("page", [HUGE, "10000000000", "-1", "0", "abc", "²", "9" * 5000])
def test_a_work_page_number_out_of_range_is_refused_with_a_message(client, db, login, page):
    login("agent")
    queued_mention(db)
    for path in ("/work", "/work/fragment"):
        response = client.get(path, query_string={"page": page})
        assert response.status_code == 400 and "page must be a whole number" in _message(response), path


def test_the_last_work_page_still_answers(client, db, login):
    login("agent")
    queued_mention(db)
    response = client.get("/work", query_string={"page": str(queues.MAX_PAGE)})
    assert response.status_code == 200 and "data-mention" not in response.get_data(as_text=True)


def test_work_filtered_by_an_unknown_owner_says_so_and_lists_nothing(client, db, login, make_user):
    login("lead")
    unowned = queued_mention(db)
    response = client.get("/work", query_string={"owner": "nobody-by-this-name"})
    assert response.status_code == 400 and "There is no user “nobody-by-this-name”" in _message(response)
    assert f'data-mention="{unowned.id}"' not in response.get_data(as_text=True)


def test_the_work_list_of_an_unknown_owner_is_empty(db, make_user):
    lead = make_user("lee", "lead")
    queued_mentions(db, "@northwind where is my bag?", "@northwind refund please")
    assert queues.work_list(db, lead, "all", {"owner": "ghost"}).items == []
    assert len(queues.work_list(db, lead, "all", {}).items) == 2


@pytest.mark.parametrize("args, says", [
    ({"mention": HUGE}, "mention must be a number"),
    ({"mention": PAST_INT32}, "mention must be a number"),
    ({"mention": "9" * 5000}, "mention must be a number"),
    ({"mention": "²"}, "mention must be a number"),
    ({"before": "yesterday"}, "before is not a position"),
    ({"before": "2026-11-20T10:00:00+00:00_" + HUGE}, "before must be a number"),
    ({"before": "9999-12-31T23:59:59_5"}, "before is not a position"),
    ({"until": "9999-12-31"}, "until 9999-12-31 is outside the years"),
    ({"since": "0001-01-01"}, "since 0001-01-01 is outside the years"),
    ({"since": "2026-11-30", "until": "2026-11-01"}, "starts (2026-11-30) after it ends (2026-11-01)"),
])
def test_the_audit_log_refuses_filters_it_cannot_answer(client, db, login, args, says):
    login("supervisor")
    for path in ("/audit", "/audit.csv"):
        response = client.get(path, query_string=args)
        assert response.status_code == 400 and says.lower() in _message(response).lower(), (path, _message(response))


@pytest.mark.parametrize("args, says", [
    ({"until": "9999-12-31"}, "until 9999-12-31 is outside the years"),
    ({"until": "0001-01-03"}, "until 0001-01-03 is outside the years"),
    ({"day": "9999-12-31"}, "day 9999-12-31 is outside"),
    ({"open_on": "9999-12-31"}, "open_on 9999-12-31 is outside"),
    ({"team": HUGE}, f"there is no team '{HUGE}'"),
    ({"team": PAST_INT32}, f"there is no team '{PAST_INT32}'"),
    ({"team": "9" * 5000}, "there is no team"),
    ({"holder": "nobody"}, "there is no user 'nobody'"),
    ({"since": "2026-11-30", "until": "2026-11-01"}, "starts (2026-11-30) after it ends"),
])
def test_reports_refuse_filters_they_cannot_answer(client, db, login, args, says):
    login("supervisor")
    for path in ("/reports", "/reports/items", "/reports/export/items.csv", "/reports/export/agent.csv"):
        response = client.get(path, query_string=args)
        if path == "/reports" and response.status_code == 302:  # the report page: back to the default, saying why
            response = client.get(response.headers["Location"])
            assert response.status_code == 200 and says.lower() in _message(response).lower(), _message(response)
            continue
        assert response.status_code == 400 and says.lower() in _message(response).lower(), (path, _message(response))


def test_report_items_refuse_a_position_past_the_range(client, db, login):
    login("lead")
    for after in ("2026-11-20T10:00:00+00:00_" + HUGE, "nonsense", "9999-12-31T23:59:59_1"):
        response = client.get("/reports/items", query_string={"after": after})
        assert response.status_code == 400 and "after" in _message(response).lower(), after


def test_options_on_the_model_page_while_logged_out_is_no_crash(client, db):
    response = client.options("/model")
    assert response.status_code < 500


def test_a_nul_character_anywhere_in_a_request_is_refused(client, db, login):
    login("supervisor")
    for path in ("/audit?q=%00", "/reports?queue=a%00b", "/queues/ques%00tions", "/work?owner=%00"):
        response = client.get(path)
        assert response.status_code == 400 and "NUL" in _message(response), path


# And everything else, systematically ------------------------------------------------------------------------

def test_every_query_parameter_of_every_page_answers_4xx_not_5xx(client, db, login):
    """Each page's parameters alone, repeated and next to each other, with every bad value; 4xx is the error page."""
    login("admin")
    queued_mention(db)
    wrong = []
    for page, params in PAGES.items():
        for value in BAD:
            typed = quote(value, safe="%")
            queries = [f"{param}={typed}" for param in [*params, "unknown"]]
            queries += ["&".join(f"{p}={typed}" for p in params)] if len(params) > 1 else []
            if value in ("", "abc", HUGE):  # repeated: a view reading every value (getlist) sees them all
                queries += [f"{param}=x&{param}={typed}&{param}={typed}" for param in params]
            for query in queries:
                response = client.get(page, query_string=query)
                body = response.get_data()  # a CSV streams: a failure halfway shows only when read
                if response.status_code >= 500 or b"Traceback" in body:
                    wrong.append(f"GET {page}?{query[:80]} answered {response.status_code}")
                elif response.status_code >= 400 and not _message(response):
                    wrong.append(f"GET {page}?{query[:80]} answered {response.status_code} without a message")
    assert not wrong, f"{len(wrong)} bad answers:\n" + "\n".join(wrong[:50])


def test_every_word_in_a_path_answers_4xx_not_5xx(app, client, db, login):
    """Routes taking a name in the path (a queue's slug, a report table, a static file) with every bad value."""
    me = login("admin")
    world = World(db, me)
    token = _csrf(client)
    headers = {"Authorization": f"Bearer {world.api_token}"}
    wrong = []
    for rule in app.url_map.iter_rules():
        words = [name for name in re.findall(r"<(?:(?:string|path):)?(\w+)>", rule.rule)]
        if not words or rule.endpoint == LAST:
            continue
        for value in [v for v in BAD if v.strip()] + ["..", "../../etc/passwd", "%2e%2e%2fapp.py", "%00"]:
            values = {**world.args(rule.endpoint), **dict.fromkeys(words, quote(value, safe="%"))}
            path = re.sub(r"<(?:[^:<>]+:)?(\w+)>", lambda m, values=values: str(values[m.group(1)]), rule.rule)
            for method in sorted(rule.methods - {"OPTIONS"}):
                extra = {"headers": headers} if path.startswith("/api/") else {}
                if method == "POST":
                    extra["data"] = {"csrf_token": token}
                response = client.open(path, method=method, **extra)
                response.close()
                if response.status_code >= 500:
                    wrong.append(f"{method} {path[:80]} answered {response.status_code}")
    assert not wrong, f"{len(wrong)} bad answers:\n" + "\n".join(wrong[:50])


def test_every_form_of_the_web_app_answers_4xx_not_5xx(app, client, db, login):
    """Every POST route with every form field the templates know set to each bad value at once."""
    me = login("admin")
    world = World(db, me)
    token = _csrf(client)
    wrong = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        if "POST" not in rule.methods or rule.rule.startswith("/api/") or rule.endpoint in (LAST, "auth.login"):
            continue
        values = world.args(rule.endpoint)
        path = re.sub(r"<(?:[^:<>]+:)?(\w+)>", lambda m, values=values: str(values[m.group(1)]), rule.rule)
        for value in [v for v in BAD if "%" not in v] + ["\ufffd", "\u202e", "-" + HUGE, "1" * 19, "2147483647"]:
            fields = {name: value for name in FORM_FIELDS if name != "user_id"}
            for form in (fields, {name: [value, value] for name in FORM_FIELDS}):
                response = client.post(path, data={**form, "csrf_token": token})
                if response.status_code >= 500:
                    wrong.append(f"POST {path} with {value[:30]!r} answered {response.status_code}")
        _still_admin(db, me)
    assert not wrong, f"{len(wrong)} bad answers:\n" + "\n".join(wrong[:50])


def _still_admin(db, username: str) -> None:
    """The walk must not have changed who is walking (it edits only the target user)."""
    db.expire_all()
    assert db.scalar(select(User.role).where(User.username == username)) == "admin"
