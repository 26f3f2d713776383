"""Customer records from the brand's other systems: the file import, the API push, the checks at the door, linking
accounts by handle (only when unambiguous), the audit, and a 100,000-row file."""
from __future__ import annotations

import io
import json
import time

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.conftest import _csrf
from triage.cli import main
from triage.core.errors import Forbidden
from triage.db import session_factory
from triage.models import Author, Customer, CustomerRecord, Event
from triage.people.accounts import create_token
from triage.people.customer_records import RecordError, import_file, parse_record, push


def _import(settings, data: str | bytes, name: str = "crm.csv", *, system: str | None = "crm", actor=None):
    raw = data.encode() if isinstance(data, str) else data
    return import_file(session_factory(settings.database_url), actor, io.BufferedReader(io.BytesIO(raw)), name,
                       system=system)


def _records(db) -> dict[str, CustomerRecord]:
    db.expire_all()
    return {r.external_id: r for r in db.scalars(select(CustomerRecord))}


CSV = ("external_id,email,name,x,mastodon,tier,lifetime_value,loyalty_points,orders,last_order_at,favourite_seat\n"
       "c-1,Dana@Example.com,Dana Reyes,@DanaR,dana@social.example,Gold,\"1,250.50\",300,12,2026-10-01T09:00:00Z,12A\n"
       "c-2,not-an-email,Bo,,,,,,,,\n"
       "c-3,,Cy,,,Silver,nan,,,,\n"
       "c-4,,Di,,,,,,,1985-01-01,\n"
       ",,Nobody,,,,,,,,\n"
       "c-5,,Ed,,,,,-3,,,\n")


def test_a_csv_lands_its_good_rows_names_each_bad_one_and_keeps_provenance(db, settings):
    result = _import(settings, CSV)
    assert (result.added, result.updated, result.refused) == (1, 0, 5)
    reasons = [e["error"] for e in result.errors]
    assert reasons[0].startswith("crm.csv:3: 'email'") and "e-mail" in reasons[0]
    assert reasons[1].startswith("crm.csv:4:") and "finite" in reasons[1]
    assert reasons[2].startswith("crm.csv:5:") and "1990" in reasons[2]
    assert reasons[3].startswith("crm.csv:6:") and "external_id" in reasons[3]
    assert reasons[4].startswith("crm.csv:7:") and "loyalty_points" in reasons[4]
    dana = _records(db)["c-1"]
    assert (dana.system, dana.email, dana.tier, dana.lifetime_value, dana.loyalty_points, dana.orders) == (
        "crm", "dana@example.com", "Gold", 1250.5, 300, 12)
    assert dana.handles == {"x": "danar", "mastodon": "dana@social.example"}
    assert dana.attributes == {"favourite_seat": "12A"}
    assert dana.last_order_at.isoformat() == "2026-10-01T09:00:00+00:00"
    assert dana.provenance["tier"]["from"] == "crm.csv" and "at" in dana.provenance["tier"]

    again = _import(settings, "external_id,tier,orders\nc-1,Platinum,\n", name="crm-dec.csv")
    assert (again.added, again.updated, again.refused) == (0, 1, 0)
    dana = _records(db)["c-1"]
    assert (dana.tier, dana.orders, dana.email) == ("Platinum", 12, "dana@example.com")  # empty cells keep facts
    assert dana.provenance["tier"]["from"] == "crm-dec.csv" and dana.provenance["orders"]["from"] == "crm.csv"
    events = db.scalars(select(Event).where(Event.action == "customers imported").order_by(Event.id)).all()
    assert [(e.detail["file"], e.detail["added"], e.detail["updated"], e.detail["refused"], e.detail["system"])
            for e in events] == [("crm.csv", 1, 0, 5, "crm"), ("crm-dec.csv", 0, 1, 0, "crm")]


def test_json_lines_name_their_system_per_row_and_hostile_text_is_cleaned_or_refused(db, settings):
    lines = [{"system": "loyalty", "external_id": 77, "name": "Ann\x00\x1b[31m", "handles": {"bluesky": "ann.bsky"},
              "attributes": {"vip": True, "note": "likes\x07 aisle"}},
             {"system": "shop", "external_id": "s-1", "lifetime_value": 1e300},
             {"system": "shop", "external_id": "s-2", "name": "x" * 201},
             {"system": "shop", "external_id": "s-3", "attributes": {"nested": {"a": 1}}},
             {"system": "shop", "external_id": "s-4", "colour": "red"},
             {"external_id": "s-5"},
             {"system": "shop", "external_id": "s-6", "last_order_at": "2999-01-01T00:00:00Z"},
             {"system": "shop", "external_id": "s-7", "handles": {"Not A Network": "x"}},
             {"system": "shop", "external_id": "s-8", "orders": True}]
    data = "\n".join(json.dumps(line) for line in lines) + "\n{broken\n"
    result = _import(settings, data, name="mixed.jsonl", system=None)
    assert result.added == 1 and result.refused == 9
    assert [e["line"] for e in result.errors] == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert "unknown field(s) colour" in result.errors[3]["error"] and "missing 'system'" in result.errors[4]["error"]
    ann = _records(db)["77"]
    assert (ann.system, ann.name, ann.attributes) == ("loyalty", "Ann[31m", {"vip": True, "note": "likes aisle"})


def test_a_matching_account_is_linked_and_one_of_another_customer_is_left_as_a_suggestion(db, settings):
    free = Author(network="x", handle="solo", display_name="Solo")
    db.add(free)
    db.commit()
    first = _import(settings, "external_id,name,x\ns-1,Sol Oh,@Solo\n", name="a.csv")
    assert first.linked == 1 and not first.suggestions
    db.expire_all()
    record = _records(db)["s-1"]
    assert record.customer_id is not None and db.get(Author, free.id).customer_id == record.customer_id
    assert db.get(Customer, record.customer_id).display_name == "Sol Oh"  # a new customer, named after the record

    # The one customer the accounts already have takes the record and the account that had none.
    taken = Customer(display_name="Known")
    db.add(taken)
    db.flush()
    other = Author(network="mastodon", handle="dana@social.example", customer_id=taken.id)
    loose, stranger = Author(network="x", handle="danar"), Author(network="x", handle="danar2")
    db.add_all([other, loose, stranger])
    db.commit()
    result = _import(settings, CSV)
    assert result.linked == 1 and not result.suggestions
    db.expire_all()
    assert _records(db)["c-1"].customer_id == taken.id and db.get(Author, loose.id).customer_id == taken.id
    assert db.get(Author, stranger.id).customer_id is None

    # An account of another customer than the record's: not merged silently, left as a suggestion.
    again = _import(settings, "external_id,x\ns-1,danar\n", name="b.csv")
    assert again.linked == 0 and again.suggestions == [
        {"author_id": loose.id, "customer_id": record.customer_id, "record": ["crm", "s-1"]}]
    db.expire_all()
    assert db.get(Author, loose.id).customer_id == taken.id and _records(db)["s-1"].customer_id == record.customer_id

    # Accounts of two different customers and a record with none: nothing is linked, both are suggested.
    two = _import(settings, '{"external_id": "t-1", "handles": {"x": "solo", "mastodon": "dana@social.example"}}\n',
                  name="t.jsonl", system="shop")
    assert two.linked == 0 and len(two.suggestions) == 2 and _records(db)["t-1"].customer_id is None


def test_only_leads_import_and_the_role_is_checked_before_anything_lands(db, settings, make_user):
    agent = make_user("agent-c", "agent")
    with pytest.raises(Forbidden):
        _import(settings, CSV, actor=agent)
    assert _records(db) == {}
    lead = make_user("lead-c", "lead")
    assert _import(settings, CSV, actor=lead).added == 1
    assert db.scalar(select(Event.actor_id).where(Event.action == "customers imported")) == lead.id


def test_parse_record_bounds_every_column():
    with pytest.raises(RecordError, match="more than the 200"):
        parse_record({"external_id": "e" * 201}, system="crm")
    with pytest.raises(RecordError, match="64"):
        parse_record({"external_id": "1"}, system="s" * 65)
    with pytest.raises(RecordError, match="between 0"):
        parse_record({"external_id": "1", "orders": 2**63}, system="crm")
    assert parse_record({"external_id": "1", "orders": "7", "lifetime_value": "-20"}, system="crm")["orders"] == 7


def test_the_cli_imports_with_a_summary_and_exits_nonzero_on_refused_rows(db, tmp_path):
    path = tmp_path / "crm.csv"
    path.write_text(CSV)
    result = CliRunner().invoke(main, ["customers", "import", str(path), "--system", "crm"])
    assert result.exit_code == 1, result.output
    assert f"{path.name}:3: 'email'" in result.output
    assert "1 records added, 0 updated, 0 accounts linked, 0 left as suggestions, 5 rows refused" in result.output
    good = tmp_path / "good.jsonl"
    good.write_text('{"external_id": "g-1", "tier": "Gold"}\n')
    result = CliRunner().invoke(main, ["customers", "import", str(good), "--system", "crm"])
    assert result.exit_code == 0, result.output
    assert "1 records added" in result.output
    missing = tmp_path / "bad.csv"
    missing.write_text("id,name\n1,x\n")
    result = CliRunner().invoke(main, ["customers", "import", str(missing), "--system", "crm"])
    assert result.exit_code == 1 and "external_id" in result.output and "nothing was imported" in result.output


def test_a_lead_uploads_an_export_on_the_web_form(client, login, db):
    login("lead")
    page = client.get("/sources/customers")
    assert page.status_code == 200
    assert 'href="/sources/customers"' in client.get("/sources").get_data(as_text=True)
    answer = client.post("/sources/customers", data={
        "csrf_token": _csrf(page.get_data(as_text=True)), "system": "crm",
        "file": (io.BytesIO(CSV.encode()), "crm.csv")}, content_type="multipart/form-data")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200, html[:500]
    assert "crm.csv:3: &#39;email&#39;" in html and "<strong>5</strong> rows refused" in html
    assert set(_records(db)) == {"c-1"}


def test_agents_cannot_open_the_upload_form(client, login):
    login("agent")
    assert client.get("/sources/customers").status_code == 403


def test_the_api_push_answers_with_counts_and_errors_by_index(client, db, make_user):
    make_user("lead-api", "lead")
    make_user("agent-api", "agent")
    lead, agent = create_token(db, "lead-api"), create_token(db, "agent-api")
    db.commit()
    body = [{"external_id": "p-1", "tier": "Gold", "handles": {"x": "pat"}}, {"external_id": "p-2", "orders": -1},
            {"external_id": "p-3", "email": "pat@example.com"}]
    answer = client.post("/api/v1/customers?system=shop", json=body, headers={"Authorization": f"Bearer {lead}"})
    assert answer.status_code == 202, answer.get_json()
    payload = answer.get_json()
    assert (payload["accepted"], payload["rejected"], payload["added"]) == (2, 1, 2)
    assert payload["errors"][0]["index"] == 1 and "orders" in payload["errors"][0]["error"]
    assert _records(db)["p-1"].provenance["tier"]["from"] == "api"
    refused = client.post("/api/v1/customers", json=[{"external_id": "p-9"}],
                          headers={"Authorization": f"Bearer {lead}"})
    assert refused.status_code == 400 and "system" in refused.get_json()["errors"][0]["error"]
    forbidden = client.post("/api/v1/customers?system=shop", json=body, headers={"Authorization": f"Bearer {agent}"})
    assert forbidden.status_code == 403 and "p-9" not in _records(db)


def test_push_in_the_callers_transaction_is_audited(db):
    result = push(db, None, [{"external_id": "q-1"}], system="crm")
    db.commit()
    assert result.added == 1
    event = db.scalar(select(Event).where(Event.action == "customers imported"))
    assert event.detail["file"] == "api" and event.detail["added"] == 1


ROWS = 100_000


def test_a_100000_row_file_streams_in_batches(db, settings, capsys):
    header = "external_id,email,tier,lifetime_value,orders,x,segment\n"
    rows = (f"big-{n},p{n}@example.com,{'Gold' if n % 10 == 0 else 'Blue'},{n % 5000}.5,{n % 40},h{n},s{n % 3}\n"
            for n in range(ROWS))
    data = (header + "".join(rows)).encode()
    db.add_all([Author(network="x", handle=f"h{n}") for n in range(0, ROWS, 1000)])
    db.commit()
    started = time.monotonic()
    result = _import(settings, data, name="big.csv")
    seconds = time.monotonic() - started
    with capsys.disabled():
        print(f"\ncustomer records: {ROWS:,} rows in {seconds:.1f} s, {ROWS / seconds:,.0f} rows/s")
    assert (result.added, result.refused, result.linked) == (ROWS, 0, ROWS // 1000)
    assert db.scalar(select(func.count()).select_from(CustomerRecord)) == ROWS


def test_a_customers_tier_and_value_raise_the_priority_with_their_reasons_and_never_lower_it(db, settings,
                                                                                            make_user):
    from tests.factories import queued_mention
    from triage.core.errors import Invalid
    from triage.routing import customer_facts

    with pytest.raises(Forbidden):
        customer_facts.save_rules(db, make_user("agent-r", "agent"), [{"tier": "Gold", "points": 15}])
    for bad in ({"tier": "Gold", "points": -5}, {"tier": "Gold", "min_value": 5, "points": 5},
                {"min_value": float("nan"), "points": 5}):
        with pytest.raises(Invalid):
            customer_facts.save_rules(db, None, [bad])
    customer_facts.save_rules(db, make_user("lead-r", "lead"), [{"tier": "gold", "points": 15},
                                                               {"min_value": 1000, "points": 10},
                                                               {"min_value": 5000, "points": 12}])
    db.commit()
    event = db.scalar(select(Event).where(Event.action == "customer priority rules saved"))
    assert event.detail["after"] == ["tier gold: +15", "lifetime value over 1,000: +10",
                                     "lifetime value over 5,000: +12"]

    text = "@northwind the plane at gate 4 has a new livery"
    plain = queued_mention(db, text, author="nobody-known")
    first = queued_mention(db, text, author="vip-dana")
    assert first.priority == plain.priority  # not known as a customer yet
    assert _import(settings, "external_id,tier,lifetime_value,x\nv-1,Gold,1200,vip-dana\n").linked == 1
    vip = queued_mention(db, text, author="vip-dana")
    extra = [r for r in vip.priority_reasons if r["factor"] == "customer"]
    assert extra == [{"factor": "customer", "points": 15, "detail": "tier gold: +15"},
                     {"factor": "customer", "points": 10, "detail": "lifetime value over 1,000: +10"}]
    assert vip.priority == plain.priority + 25 == sum(r["points"] for r in vip.priority_reasons)

    urgent = queued_mention(db, "@northwind I was injured by your broken seat, my lawyer will call, urgent",
                            author="vip-dana", author_followers=5_000_000)
    assert urgent.priority == 100 == sum(r["points"] for r in urgent.priority_reasons)  # capped, shown honestly


def test_leads_set_the_rules_in_words_at_the_console(db):
    from triage.routing.customer_facts import parse_rule

    assert parse_rule("Gold: +15") == {"tier": "Gold", "points": 15}
    assert parse_rule("lifetime value over 1,000: +10") == {"min_value": 1000.0, "points": 10}
    result = CliRunner().invoke(main, ["customers", "priority", "tier Gold: +15", "value over 1,000: 10"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["tier Gold: +15", "lifetime value over 1,000: +10"]
    refused = CliRunner().invoke(main, ["customers", "priority", "Gold: +90"])
    assert refused.exit_code == 1 and "from 1 to 50" in refused.output
    assert CliRunner().invoke(main, ["customers", "priority"]).output.count("+") == 2  # unchanged by the refusal
    assert CliRunner().invoke(main, ["customers", "priority", "--clear"]).output.strip() == "no customer priority rules"
