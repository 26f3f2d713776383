"""The audit log: every event, searchable and filterable, exportable as CSV, and append-only."""
from __future__ import annotations

import csv
import html as html_lib
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import record
from triage.intake import ingest
from triage.models import Event, Mention
from triage.reporting.audit_log import KNOWN_ACTIONS
from triage.work import replies

ROOT = Path(__file__).resolve().parents[1]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def history(db, make_source, make_user):
    """Two mentions worked by alex; a note on the second; the system queued both."""
    alex = make_user("alex", "agent")
    source = make_source()
    receipt = ingest.receive(db, source, [
        record(id="a1", text="@northwind my bag never arrived", posted_at="2026-11-20T10:00:00Z"),
        record(id="a2", text="@northwind how do I add a bike to my booking?", posted_at="2026-11-21T10:00:00Z"),
    ])
    for delivery_id in receipt.delivery_ids:
        ingest.process_delivery(db, delivery_id, now=at("2026-11-20T10:01"))
    db.commit()
    ids = dict(db.execute(select(Mention.external_id, Mention.id)).all())
    replies.reply(db, ids["a1"], alex, "So sorry, we are on it", now=at("2026-11-20T10:20"))
    replies.resolve(db, ids["a1"], alex, now=at("2026-11-20T11:00"))
    replies.add_note(db, ids["a2"], alex, "Customer asked about the bike fee twice", now=at("2026-11-21T10:30"))
    db.commit()
    return ids


def _rows(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-event="(\d+)"', html)]


def _event_ids(db, *where) -> list[int]:
    return list(db.scalars(select(Event.id).where(*where).order_by(Event.created_at.desc(), Event.id.desc())))


def test_the_log_shows_who_did_what_when_to_which_item(client, db, history, login):
    login("supervisor")
    html = client.get("/audit").get_data(as_text=True)
    assert _rows(html) == _event_ids(db)  # everything, newest first
    resolved = db.scalar(select(Event).where(Event.action == "resolved"))
    row = re.search(rf'data-event="{resolved.id}".*?</tr>', html, re.S).group(0)
    assert "2026-11-20 11:00:00" in row and "Alex" in row and f"#{history['a1']}" in row
    assert "answered → resolved" in row


def test_search_and_filters_narrow_the_log(client, db, history, login):
    login("lead")
    note = _event_ids(db, Event.action == "note")
    assert _rows(client.get("/audit?q=bike+fee").get_data(as_text=True)) == note
    assert _rows(client.get("/audit?q=BIKE+FEE").get_data(as_text=True)) == note  # case does not matter
    assert _rows(client.get("/audit?q=100%25").get_data(as_text=True)) == []  # % is a character, not a wildcard
    assert _rows(client.get("/audit?actor=system").get_data(as_text=True)) == _event_ids(db, Event.actor_id.is_(None))
    assert _rows(client.get("/audit?action=resolved").get_data(as_text=True)) == _event_ids(
        db, Event.action == "resolved")
    assert _rows(client.get(f"/audit?mention={history['a2']}").get_data(as_text=True)) == _event_ids(
        db, Event.mention_id == history["a2"])
    day = _rows(client.get("/audit?since=2026-11-21&until=2026-11-21").get_data(as_text=True))
    assert day == note
    assert client.get("/audit?mention=abc").status_code == 400


def test_the_log_pages_through_older_entries_without_gaps(client, db, history, login):
    login("supervisor")
    base = at("2026-11-01T00:00")
    db.execute(Event.__table__.insert(), [{"mention_id": history["a1"], "action": "note", "reason": f"n{n}",
                                           "detail": {}, "created_at": base + timedelta(minutes=n)}
                                          for n in range(150)])
    db.commit()
    first = client.get("/audit").get_data(as_text=True)
    following = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = client.get(following).get_data(as_text=True)
    assert len(_rows(first)) == 100 and _rows(first) + _rows(second) == _event_ids(db)
    assert 'rel="next"' not in second


def test_the_log_exports_as_csv_with_the_same_filters(client, db, history, login):
    login("supervisor")
    response = client.get("/audit.csv?actor=alex")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [int(r["id"]) for r in rows] == _event_ids(db, Event.actor_id.is_not(None))
    assert {r["actor"] for r in rows} == {"alex"}
    note = next(r for r in rows if r["action"] == "note")
    assert note["reason"] == "Customer asked about the bike fee twice" and note["created_at"] == "2026-11-21T10:30:00Z"
    replied = next(r for r in rows if r["action"] == "replied")
    assert replied["external_id"] == "a1" and '"response_id"' in replied["detail"]


def test_changes_to_service_levels_are_in_the_log(client, db, login):
    login("lead", "lee")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/sla").get_data(as_text=True)).group(1)
    client.post("/sla/policies", data={"csrf_token": token, "name": "VIP", "position": "0", "urgent": "any",
                                       "intent": "", "first_response_minutes": "15", "resolution_minutes": "120"})
    html = client.get("/audit?q=VIP").get_data(as_text=True)
    assert "sla policy saved" in html and "VIP: first response 15 min" in html


def test_nobody_can_edit_or_delete_an_event(client, app, db, history, login):
    login("admin")
    event = db.scalar(select(Event).limit(1))
    audit_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/audit")]
    assert audit_rules and all(r.methods <= {"GET", "HEAD", "OPTIONS"} for r in audit_rules)
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)("/audit").status_code == 405
        assert getattr(client, method)(f"/audit/{event.id}").status_code == 404
    # No code path in the application writes an UPDATE or DELETE against the events table.
    pattern = re.compile(r"(update|delete)\(\s*Event\b|Event\.__table__\.(update|delete)|session\.delete\(\s*event")
    offenders = [str(p.relative_to(ROOT)) for folder in ("triage", "workers") for p in (ROOT / folder).rglob("*.py")
                 if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_agents_cannot_read_the_log(client, db, login):
    login("agent")
    assert client.get("/audit").status_code == 403
    assert client.get("/audit.csv").status_code == 403


def _written_actions() -> dict[str, str]:
    """Every action name the code writes into an event, read from the source: action → where."""
    import ast

    found: dict[str, str] = {}
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for folder in ("triage", "workers")
             for p in (ROOT / folder).rglob("*.py")}
    # Functions that take an `action` parameter (_event, _audit, record, _close, ...): where it sits.
    positions = {f.name: [a.arg for a in f.args.args].index("action") for tree in trees.values()
                 for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and "action" in [a.arg for a in f.args.args]}
    for path, tree in trees.items():
        constants = {}  # NAME = "text" and A, B = "x", "y" at module level
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                names = node.targets[0].elts if isinstance(node.targets[0], ast.Tuple) else [node.targets[0]]
                values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                constants |= {n.id: v.value for n, v in zip(names, values, strict=False) if isinstance(n, ast.Name)
                              and isinstance(v, ast.Constant) and isinstance(v.value, str)}

        def text(node, path=path, constants=constants):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                return node.value
            return constants.get(node.id) if isinstance(node, ast.Name) else None

        for node in ast.walk(tree):
            candidates = []
            if isinstance(node, ast.Call):
                candidates += [k.value for k in node.keywords if k.arg == "action"]
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in positions and len(node.args) > positions[name]:
                    candidates.append(node.args[positions[name]])
            elif isinstance(node, ast.Dict):
                candidates += [v for k, v in zip(node.keys, node.values, strict=True)
                               if isinstance(k, ast.Constant) and k.value == "action"]
            for value in filter(None, map(text, candidates)):
                found.setdefault(value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_action_the_code_writes_is_in_the_registry():
    from triage.core.audit import ACTIONS

    written = _written_actions()
    # The scan must see the writers it is meant to check, or it proves nothing.
    assert {"claimed", "reply sent", "delivery given up", "queued", "sla breached", "token created"} <= set(written)
    assert {a: where for a, where in written.items() if a not in ACTIONS} == {}
    assert all(len(a) <= 32 for a in ACTIONS)  # events.action is a VARCHAR(32)


def test_the_logs_action_filter_offers_every_registered_action(client, db, login):
    from triage.core.audit import ACTIONS

    login("supervisor")
    html = client.get("/audit").get_data(as_text=True)
    offered = re.findall(r'<option value="([^"]+)" label="([^"]+)">', html)
    assert {action: html_lib.unescape(label) for action, label in offered} == ACTIONS
    assert KNOWN_ACTIONS == tuple(ACTIONS)
