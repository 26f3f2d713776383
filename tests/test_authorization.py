"""Who may use which route: every rule of the app's url_map, every method, for every role and for someone logged
out, checked against one declared policy. A route added without a policy fails here until it gets one."""
from __future__ import annotations

import re

import pytest

from tests.conftest import _csrf, record
from tests.factories import queued_mentions
from triage.intake.source_settings import ensure_source
from triage.intake.sources import connectable
from triage.models import Customer, DeadLetter, Queue, Response, RoutingRule, SavedReply, SlaPolicy, Team
from triage.people import accounts

ANON = "anonymous"
ROLES = ("agent", "lead", "supervisor", "admin")
EVERYONE = frozenset({ANON, *ROLES})
LOGGED_IN = frozenset(ROLES)
WORKERS = frozenset({"agent", "lead", "admin"})  # work items; supervisors read along
LEADS = frozenset({"lead", "admin"})
READERS = frozenset({"lead", "supervisor", "admin"})
ADMINS = frozenset({"admin"})


def _both(get: frozenset, post: frozenset) -> dict[str, frozenset]:
    return {"GET": get, "POST": post}


# endpoint -> method -> the roles that may use it. Everyone else gets 403 (logged out: the login page, or 401 from
# the API). Ownership rules (only your own token, the holder of a claim) are tested where they live.
POLICY: dict[str, dict[str, frozenset]] = {
    "static": {"GET": EVERYONE},
    "auth.login": _both(EVERYONE, EVERYONE),
    "auth.logout": {"POST": LOGGED_IN},
    "api.healthz": {"GET": EVERYONE},
    "api.openapi": {"GET": EVERYONE},
    "pages.index": {"GET": EVERYONE},  # a redirect to the queues, which ask for a login
    "pages.queues": {"GET": LOGGED_IN},
    "pages.queues_fragment": {"GET": LOGGED_IN},
    "pages.sources": _both(LOGGED_IN, LEADS),  # everyone sees the sources; leads import files
    # Working items
    "work.work_list": {"GET": LOGGED_IN},
    "work.work_fragment": {"GET": LOGGED_IN},
    "work.item": {"GET": LOGGED_IN},
    "work.claim_next": {"POST": WORKERS},
    "work.claim": {"POST": WORKERS},
    "work.release": {"POST": WORKERS},
    "work.reply": {"POST": WORKERS},
    "work.retry_response": {"POST": WORKERS},
    "work.escalate": {"POST": WORKERS},
    "work.assign": {"POST": LEADS},
    "work.assign_many": {"POST": LEADS},
    "work.resolve": {"POST": WORKERS},
    "work.reopen": {"POST": WORKERS},
    "work.spam": {"POST": WORKERS},
    "work.irrelevant": {"POST": WORKERS},
    "work.note": {"POST": LOGGED_IN},  # anyone on the team may leave a note
    "work.relabel": {"POST": WORKERS},
    "work.link_account": {"POST": WORKERS},
    "work.ping": {"POST": LOGGED_IN},
    "work.notifications": {"GET": LOGGED_IN},
    "work.notifications_read": {"POST": LOGGED_IN},
    # Reports, audit, service levels
    "reports.report": {"GET": READERS},
    "reports.report_items": {"GET": READERS},
    "reports.export": {"GET": READERS},
    "reports.audit": {"GET": READERS},
    "reports.audit_csv": {"GET": READERS},
    "reports.sla_policies": {"GET": READERS},
    "reports.save_policy": {"POST": LEADS},
    "reports.delete_policy": {"POST": LEADS},
    "reports.save_team": {"POST": LEADS},
    # The model
    "learning.model": {"GET": LEADS},
    "learning.status": {"GET": LEADS},
    "learning.retrain": {"POST": LEADS},
    "learning.import_labels": {"POST": LEADS},
    # Users and teams: admins
    "people.users": {"GET": ADMINS},
    "people.user_add": {"POST": ADMINS},
    "people.user_detail": {"GET": ADMINS},
    "people.user_update": {"POST": ADMINS},
    "people.user_deactivate": {"POST": ADMINS},
    "people.user_reactivate": {"POST": ADMINS},
    "people.user_password": {"POST": ADMINS},
    "people.teams": {"GET": ADMINS},
    "people.team_add": {"POST": ADMINS},
    "people.team_rename": {"POST": ADMINS},
    # How work flows: leads change it, supervisors read along
    "replies.saved_replies": {"GET": READERS},
    "replies.saved_reply": {"GET": READERS},
    "replies.saved_reply_add": {"POST": LEADS},
    "replies.saved_reply_update": {"POST": LEADS},
    "replies.saved_reply_delete": {"POST": LEADS},
    "replies.saved_reply_preview": {"POST": READERS},
    "routing.routing": {"GET": READERS},
    "routing.queue_add": {"POST": LEADS},
    "routing.queue_detail": {"GET": READERS},
    "routing.queue_update": {"POST": LEADS},
    "routing.queue_move": {"POST": LEADS},
    "routing.queue_delete": {"POST": LEADS},
    "routing.rule_add": {"POST": LEADS},
    "routing.rule_detail": {"GET": READERS},
    "routing.rule_update": {"POST": LEADS},
    "routing.rule_enabled": {"POST": LEADS},
    "routing.rule_move": {"POST": LEADS},
    "routing.rule_delete": {"POST": LEADS},
    "sources.source_new": {"GET": LEADS},
    "sources.source_add": {"POST": LEADS},
    "sources.source_edit": {"GET": LEADS},
    "sources.source_update": {"POST": LEADS},
    "sources.source_pause": {"POST": LEADS},
    "sources.source_resume": {"POST": LEADS},
    "sources.source_connect": {"GET": LEADS},
    "sources.source_connect_save": {"POST": LEADS},
    "sources.source_account": {"POST": LEADS},
    "sources.source_disconnect": {"POST": LEADS},
    "customer_import.form": {"GET": LEADS},
    "customer_import.upload": {"POST": LEADS},
    # Dead letters: listed on the Sources page for everyone; leads retry or discard them
    "dead_letters.show": {"GET": LOGGED_IN},
    "dead_letters.retry": {"POST": LEADS},
    "dead_letters.discard": {"POST": LEADS},
    # API tokens: everyone manages their own (only admins create them for others, leads revoke anyone's)
    "tokens.tokens": {"GET": LOGGED_IN},
    "tokens.token_create": {"POST": LOGGED_IN},
    "tokens.token_revoke": {"POST": LOGGED_IN},
    # The API, with the role's own (unscoped) token
    "api.push_mentions": {"POST": LEADS},  # into an existing source: a lead's token (or one scoped to it)
    "api_customer_records.push_customers": {"POST": LEADS},  # customer records: a lead's or admin's token
    "api_mentions.queues": {"GET": LOGGED_IN},
    "api_mentions.queue_mentions": {"GET": LOGGED_IN},
    "api_mentions.mention": {"GET": LOGGED_IN},
    "api_mentions.claim_next": {"POST": WORKERS},
    "api_mentions.claim": {"POST": WORKERS},
    "api_mentions.release": {"POST": WORKERS},
    "api_mentions.reply": {"POST": WORKERS},
    "api_mentions.retry_reply": {"POST": WORKERS},
    "api_mentions.escalate": {"POST": WORKERS},
    "api_mentions.assign": {"POST": LEADS},
    "api_mentions.resolve": {"POST": WORKERS},
    "api_mentions.reopen": {"POST": WORKERS},
    "api_mentions.spam": {"POST": WORKERS},
    "api_mentions.irrelevant": {"POST": WORKERS},
    "api_mentions.note": {"POST": LOGGED_IN},
    "api_mentions.relabel": {"POST": WORKERS},
    "api_mentions.link_accounts": {"POST": WORKERS},
    # Customers: everyone finds and reads them; those who work items link and unlink
    "customers.customers": {"GET": LOGGED_IN},
    "customers.customer": {"GET": LOGGED_IN},
    "customers.link_account": {"POST": WORKERS},
    "customers.link_record": {"POST": WORKERS},
    "customers.unlink": {"POST": WORKERS},
    "api_customers.customers": {"GET": LOGGED_IN},
    "api_customers.customer": {"GET": LOGGED_IN},
}
# Routes that change what other routes need (so each gets rows of its own), and the one that ends the session.
OWN_ROWS = ("routing.queue_delete", "routing.rule_delete", "replies.saved_reply_delete", "reports.delete_policy",
            "dead_letters.discard", "dead_letters.retry", "tokens.token_revoke")
LAST = "auth.logout"
# Valid fields for the actions that take some, so a refusal is about the role and not about the input.
FIELDS = {"reply": {"text": "Sorry about that, we are on it."}, "note": {"text": "Called them back."},
          "escalate": {"to": "leads", "reason": "They ask for a manager."}, "assign": {"user": "walk-target"}}
ARG = re.compile(r"<(?:[^:<>]+:)?(\w+)>")


def _methods(rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def test_every_route_has_a_policy(app):
    missing = [f"endpoint {rule.endpoint} ({rule.rule}) has no policy for {method}"
               for rule in app.url_map.iter_rules() for method in _methods(rule)
               if method not in POLICY.get(rule.endpoint, {})]
    assert not missing, "\n".join(missing)
    routed = {(rule.endpoint, m) for rule in app.url_map.iter_rules() for m in _methods(rule)}
    stale = [f"{endpoint} {method}" for endpoint, methods in POLICY.items() for method in methods
             if (endpoint, method) not in routed]
    assert not stale, "policy for routes that no longer exist: " + ", ".join(stale)


class World:
    """Real rows for every URL argument; routes that delete or revoke get rows of their own."""

    def __init__(self, db, me):
        self.db = db
        self.me = me
        endpoints = [e for e in POLICY if e.startswith(("work.", "api.", "api_mentions."))]
        mentions = queued_mentions(db, *[record(text=f"@northwind where is my refund? ({e})") for e in endpoints],
                                   source_name="Walk")
        self.mention = dict(zip(endpoints, mentions, strict=True))
        for m in mentions:
            db.add(Response(mention_id=m.id, text="sorry about that", origin="app", network=m.network,
                            delivery_status="failed", attempts=1, last_error="network said no"))
        self.target = accounts.add_user(db, "walk-target", "correct horse battery", role="agent")
        self.team = Team(name="Walk team")
        db.add(self.team)
        db.flush()
        self.queues = {e: Queue(slug=f"walk-{i}", name=f"Walk {i}", position=50 + i) for i, e in enumerate(
            ("queue", "routing.queue_delete"))}
        db.add_all(self.queues.values())
        db.flush()
        self.rules = {e: RoutingRule(queue_id=self.queues["queue"].id, position=50 + i, intent="question")
                      for i, e in enumerate(("rule", "routing.rule_delete"))}
        self.replies = {e: SavedReply(title=f"Walk {e}", body="Hello {author}") for e in (
            "reply", "replies.saved_reply_delete")}
        self.policies = {e: SlaPolicy(name=f"Walk {e}", position=50, first_response_minutes=60,
                                      resolution_minutes=600) for e in ("policy", "reports.delete_policy")}
        db.add_all([*self.rules.values(), *self.replies.values(), *self.policies.values()])
        self.source = ensure_source(db, "Walk feed", "rss", config={"url": "https://example.com/feed.xml"})
        db.flush()
        self.letters = {e: DeadLetter(source_id=self.source.id, payload={"id": e, "text": "?"}, error="no author")
                        for e in ("dead_letters.discard", "dead_letters.retry", "letter")}
        db.add_all(self.letters.values())
        self.customer = Customer(display_name="Walk customer")
        db.add(self.customer)
        owner = me or self.target.username
        self.api_token = accounts.create_token(db, me, "walk") if me else None
        accounts.create_token(db, owner, "to revoke")
        db.commit()
        self.revoke_id = max(t.id for t in accounts.list_tokens(db, None, owner))

    def fields(self, endpoint: str) -> dict[str, object]:
        action = endpoint.rpartition(".")[2].removeprefix("api_").removesuffix("_accounts").removesuffix("_account")
        if action == "link":
            return {"author_id": self.mention["work.item"].author_id}
        return FIELDS.get(action, {})

    def args(self, endpoint: str) -> dict[str, object]:
        def row(rows: dict, shared: str) -> int:
            return (rows.get(endpoint) or rows[shared]).id

        mention = self.mention.get(endpoint) or self.mention["work.item"]
        response = self.db.query(Response).filter_by(mention_id=mention.id).one()
        return {
            "mention_id": mention.id, "response_id": response.id, "slug": "questions", "name": "questions",
            "user_id": self.target.id, "team_id": self.team.id, "table": "agent", "filename": "app.css",
            "queue_id": row(self.queues, "queue"), "rule_id": row(self.rules, "rule"),
            "reply_id": row(self.replies, "reply"), "policy_id": row(self.policies, "policy"),
            "source_id": self.source.id, "letter_id": row(self.letters, "letter"), "token_id": self.revoke_id,
            "kind": connectable()[0].kind, "customer_id": self.customer.id,
        }


def _url(rule, values: dict) -> str:
    return ARG.sub(lambda m: str(values[m.group(1)]), rule.rule)


def _token(client, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    return match.group(1) if match else _csrf(html)


def _verdict(who: str, endpoint: str, method: str, path: str, status: int, location: str) -> str | None:
    """What is wrong with this answer, or None. HEAD is held to GET's policy."""
    allowed = who in POLICY[endpoint]["GET" if method == "HEAD" else method]
    where = f"{who} {method} {path} ({endpoint}) answered {status}"
    if status >= 500 and not (endpoint == "api.healthz" and status == 503):  # 503: "degraded", its answer
        return where
    if allowed:
        return where + ", but the policy allows it" if status in (401, 403, 404, 405) else None
    if who == ANON:
        if path.startswith("/api/"):
            return None if status == 401 else where + ", not 401"
        return None if status == 302 and "/login" in location else where + ", not a redirect to the login page"
    return None if status == 403 else where + ", not 403"


@pytest.mark.parametrize("who", [ANON, *ROLES])
def test_every_route_answers_each_role_as_the_policy_says(app, client, db, login, who, redis_conn):
    me = login(who) if who != ANON else None
    world = World(db, me)
    csrf = _token(client, "/notifications" if me else "/login")
    headers = {"Authorization": f"Bearer {world.api_token}"} if world.api_token else {}
    wrong: list[str] = []
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint == LAST, r.endpoint, r.rule))
    for rule in rules:
        assert rule.endpoint in POLICY, f"endpoint {rule.endpoint} has no policy"
        path = _url(rule, world.args(rule.endpoint))
        api = path.startswith("/api/")
        for method in [*_methods(rule), "OPTIONS", *(["HEAD"] if "GET" in rule.methods else [])]:
            fields = world.fields(rule.endpoint)
            if method == "POST" and api:
                body = [] if rule.endpoint == "api.push_mentions" else fields
                response = client.post(path, json=body, headers=headers)
            elif method == "POST":
                response = client.post(path, data={"csrf_token": csrf, **fields})
            else:
                response = client.open(path, method=method, headers=headers if api else {})
            response.close()
            status, location = response.status_code, response.headers.get("Location", "")
            if method == "OPTIONS":  # says which methods there are, for anyone, and nothing more
                if status >= 500 or (status == 200 and response.get_data()):
                    wrong.append(f"{who} OPTIONS {path} answered {status} with a body")
                continue
            problem = _verdict(who, rule.endpoint, method, path, status, location)
            if problem:
                wrong.append(problem)
        if "PUT" not in rule.methods and who == "admin":  # a method the route does not have: 405, never a crash
            response = client.put(path, headers=headers if api else {})
            response.close()
            status = response.status_code
            if status != 405:
                wrong.append(f"admin PUT {path} answered {status}, not 405")
    assert not wrong, f"{len(wrong)} answers break the policy:\n" + "\n".join(wrong)
