"""The `triage` command: import with progress, classify's contract, tokens, and schema migrations."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.conftest import record
from triage.cli import main
from triage.models import ApiToken, Delivery, Mention, Response, Source


@pytest.fixture
def worker_process(settings, tmp_path):
    """A real `triage worker` process for the duration of a test."""
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "triage.cli", "worker"], env=os.environ.copy(),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    yield proc
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)
    log.close()


def _jsonl(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_import_waits_until_every_post_is_tagged_and_queued(db, tmp_path, worker_process):
    path = tmp_path / "export.jsonl"
    _jsonl(path, [record(id=f"imp-{n}") for n in range(1200)]
           + [record(id="m-1", text="@northwind where is my refund?", posted_at="2026-11-20T10:00:00Z"),
              record(id="r-1", author="northwindhelp", text="@customer sorry, DM us", in_reply_to="m-1",
                     posted_at="2026-11-20T10:09:00Z")])
    result = CliRunner().invoke(main, ["import", str(path), "--source", "Legacy tool",
                                       "--brand-handle", "@NorthwindHelp"])
    assert result.exit_code == 0, result.output
    assert "1,202 posts accepted, 0 rows refused" in result.output
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Mention).where(Mention.tagged_at.is_not(None))) == 1201
    assert db.scalar(select(func.count()).select_from(Delivery).where(Delivery.processed_at.is_(None))) == 0
    response = db.scalar(select(Response))
    assert response.origin == "network" and response.sent_at.isoformat() == "2026-11-20T10:09:00+00:00"
    assert db.scalar(select(Source.brand_handles).where(Source.name == "Legacy tool")) == ["northwindhelp"]


def test_import_names_each_bad_row_exits_nonzero_and_keeps_the_good_rows(db, tmp_path):
    path = tmp_path / "mixed.jsonl"
    good = json.dumps(record(id="ok-1"))
    path.write_bytes(b"\n".join([
        good.encode(), b"{not json", json.dumps(record(text="")).encode(), b'{"id": "bad-utf8", "text": "\xff"}',
        json.dumps(record(id="ok-2", text="y" * 200_000)).encode(), json.dumps(record(id="ok-3")).encode(),
    ]))
    result = CliRunner().invoke(main, ["import", str(path), "--source", "Mixed", "--no-wait"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any("line 2: not valid JSON" in line for line in lines)
    assert any("line 3: missing field 'text'" in line for line in lines)
    assert any("line 4: not valid UTF-8" in line for line in lines)
    assert any("line 5:" in line and "200,000 characters" in line for line in lines)
    assert "2 posts accepted, 4 rows refused" in result.output
    db.expire_all()
    assert db.scalar(select(func.sum(Delivery.post_count))) == 2


def test_import_csv_with_missing_columns_imports_nothing(db, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("id,text\n1,hello\n")
    result = CliRunner().invoke(main, ["import", str(path), "--source", "CSV"])
    assert result.exit_code != 0
    assert "lacks column(s) network, author" in result.output and "nothing was imported" in result.output
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0


def test_import_csv_reads_quoted_newlines_and_refuses_bad_bytes(db, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(
        b'id,network,text,author,author_followers,posted_at\n'
        b'c1,x,"line one\nline two",dana,12,2026-11-20T10:00:00Z\n'
        b'c2,x,"bad \xff byte",eve,,\n'
        b'c3,x,fine,frank,notanumber,\n'
        b'c4,x,also fine,gina,,\n')
    result = CliRunner().invoke(main, ["import", str(path), "--source", "CSV", "--no-wait"])
    assert result.exit_code == 1
    assert "line 4: not valid UTF-8" in result.output
    assert "line 5: author_followers must be a whole number" in result.output
    db.expire_all()
    [delivery] = db.scalars(select(Delivery)).all()
    assert [p["id"] for p in delivery.posts] == ["c1", "c4"]
    assert delivery.posts[0]["text"] == "line one\nline two"


def test_classify_follows_the_jsonl_contract_in_input_order(settings):
    lines = [{"id": "a", "text": "my parcel never arrived and support ignores me"},
             {"id": "b", "text": "how do I reset my password?"},
             {"id": 3, "text": "love this app, highly recommend it"}]
    stdin = "".join(json.dumps(x) + "\n" for x in lines) + "not json\n"
    done = subprocess.run([sys.executable, "-m", "triage.cli", "classify"], input=stdin, capture_output=True,
                          text=True, timeout=60)
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["id"] for o in out[:3]] == ["a", "b", 3]
    assert [o["intent"] for o in out[:3]] == ["complaint", "question", "advocacy"]
    assert out[0]["sentiment"] == "negative" and out[2]["sentiment"] == "positive"
    assert all({"polarity", "intent_confidence", "cues"} <= set(o) for o in out[:3])
    assert "error" in out[3]


def test_token_create_prints_a_token_that_only_its_hash_is_kept_of(db, make_user):
    make_user("bot", "lead")
    result = CliRunner().invoke(main, ["token", "create", "--user", "bot"])
    assert result.exit_code == 0
    token = result.output.strip()
    assert token.startswith("trg_") and len(token) > 40
    db.expire_all()
    assert token not in db.scalar(select(ApiToken.token_hash))
    unknown = CliRunner().invoke(main, ["token", "create", "--user", "nobody"])
    assert unknown.exit_code != 0 and "no user 'nobody'" in unknown.output


def test_user_add_prompts_for_the_password_and_refuses_short_ones(db):
    result = CliRunner().invoke(main, ["user", "add", "robin", "--role", "lead"], input="short\nshort\n")
    assert result.exit_code != 0 and "at least 8 characters" in result.output
    result = CliRunner().invoke(main, ["user", "add", "robin", "--role", "lead"], input="longenough1\nlongenough1\n")
    assert result.exit_code == 0 and "added robin (lead)" in result.output


DESC_INDEXES = {"ix_mentions_queue_rank", "ix_mentions_rank", "ix_mentions_claimable"}


def test_migrations_match_the_models(settings):
    import warnings

    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from triage.db import get_engine
    from triage.models import Base

    with get_engine(settings.database_url).connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect the DESC ranking indexes; PostgreSQL checks them.
        warnings.filterwarnings("ignore", message=".*expression-based index.*")
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        # Neither backend reflects partial DESC indexes faithfully; test_ranking_indexes_are_used checks them.
        diff = [d for d in diff if not (d[0].endswith("_index") and d[1].name in DESC_INDEXES)]
    assert diff == [], f"models changed without a migration: {diff}"


# Section 8 of issue 10: every command that reads the database, on an instance whose database was never created.

NEEDS_NO_DATABASE = {"init", "run", "train", "classify", "redis status", "redis start", "redis stop"}  # init, run
# and train create or upgrade it themselves; classify and redis never read it
FRESH_INSTANCE_ARGS = {
    "worker": ["worker", "--burst"],
    "cron": ["cron"],
    "import": ["import", "{posts}", "--source", "Export"],
    "report": ["report"],
    "summaries": ["summaries"],
    "status": ["status"],
    "user add": ["user", "add", "robin", "--role", "lead"],
    "token create": ["token", "create", "--user", "lead"],
    "token list": ["token", "list"],
    "token revoke": ["token", "revoke", "1"],
    "source add-rss": ["source", "add-rss", "Feed", "https://example.com/feed.xml"],
    "source list": ["source", "list"],
    "source dead-letters": ["source", "dead-letters"],
    "source connect": ["source", "connect", "mastodon", "--name", "Social", "--set", "access_token=tok"],
    "source disconnect": ["source", "disconnect", "Social"],
    "source rotate-key": ["source", "rotate-key"],
    "customers import": ["customers", "import", "{posts}", "--system", "crm"],
    "customers priority": ["customers", "priority", "Gold: +15"],
}
RUNS_UNTIL_STOPPED = {"worker", "cron"}  # run as processes, so a missing check shows as a timeout, not a hang


def _command_paths(group, prefix: str = "") -> list[str]:
    import click

    paths = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        paths += _command_paths(command, f"{path} ") if isinstance(command, click.Group) else [path]
    return paths


def test_every_command_is_tried_on_a_fresh_instance():
    assert set(_command_paths(main)) == NEEDS_NO_DATABASE | set(FRESH_INSTANCE_ARGS)


@pytest.fixture
def fresh_database(tmp_path, settings):
    """A database URL nothing was ever created in: a SQLite path, or an empty PostgreSQL schema."""
    from sqlalchemy import text

    from triage.db import get_engine

    if not settings.database_url.startswith("postgresql"):
        path = tmp_path / "fresh" / "triage.sqlite3"
        path.parent.mkdir()
        yield f"sqlite:///{path}", lambda: path.exists()
        return
    from sqlalchemy.engine import make_url

    schema = f"fresh_{os.getpid()}_{tmp_path.name[-20:]}".lower().replace("-", "_")
    base = make_url(settings.database_url).difference_update_query(["options"])
    admin = get_engine(base.render_as_string(hide_password=False))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)

    def created_anything() -> bool:
        with admin.connect() as conn:
            return bool(conn.scalar(text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
                                    {"s": schema}))

    yield url, created_anything
    get_engine(url).dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.mark.parametrize("command", sorted(FRESH_INSTANCE_ARGS))
def test_a_command_on_a_fresh_instance_says_to_run_init_in_one_line(command, fresh_database, tmp_path):
    url, created_anything = fresh_database
    posts = tmp_path / "posts.jsonl"
    _jsonl(posts, [record()])
    args = [a.replace("{posts}", str(posts)) for a in FRESH_INSTANCE_ARGS[command]]
    env = {"TRIAGE_DATABASE_URL": url, "TRIAGE_INSTANCE_PATH": str(tmp_path / "fresh")}
    if command in RUNS_UNTIL_STOPPED:
        done = subprocess.run([sys.executable, "-m", "triage.cli", *args], env={**os.environ, **env},
                              capture_output=True, text=True, timeout=120)
        code, output = done.returncode, done.stdout + done.stderr
    else:
        result = CliRunner().invoke(main, args, env=env, input="longenough1\nlongenough1\n")
        assert isinstance(result.exception, SystemExit), result.exception  # a message, not a traceback
        code, output = result.exit_code, result.output
    assert code == 1 and "Traceback" not in output and "Password" not in output  # said before any prompt
    message = [line for line in output.splitlines() if "init" in line]
    assert len(message) == 1 and "run `triage init` first" in message[0], output
    assert not created_anything(), "it left an empty database behind"


def test_after_init_the_same_commands_work(fresh_database, tmp_path):
    url, _ = fresh_database
    env = {"TRIAGE_DATABASE_URL": url, "TRIAGE_INSTANCE_PATH": str(tmp_path / "fresh"), "TRIAGE_DEMO": "0"}
    assert CliRunner().invoke(main, ["init"], env=env).exit_code == 0
    added = CliRunner().invoke(main, ["user", "add", "robin", "--role", "lead"], env=env,
                               input="longenough1\nlongenough1\n")
    assert added.exit_code == 0 and "added robin (lead)" in added.output
    assert CliRunner().invoke(main, ["report"], env=env).exit_code == 0


def test_the_console_adds_feeds_by_the_same_rules_as_the_web_and_the_log_says_so(db):
    from triage.core.audit import OPERATOR
    from triage.models import Event

    slow = CliRunner().invoke(main, ["source", "add-rss", "Fast feed", "https://example.com/a.rss", "--every", "5"])
    assert slow.exit_code != 0 and "between 30 and 86,400" in slow.output  # refused, not silently raised to 30
    result = CliRunner().invoke(main, ["source", "add-rss", "Reddit", "https://example.com/r.rss", "--network",
                                       "Reddit", "--brand-handle", "@NorthwindHelp", "--brand-handle", "northwind"])
    assert result.exit_code == 0, result.output
    db.expire_all()
    source = db.scalar(select(Source).where(Source.name == "Reddit"))
    assert (source.interval_seconds, source.config["network"], source.brand_handles) == (
        300, "reddit", ["northwind", "northwindhelp"])
    event = db.scalar(select(Event).where(Event.action == "source added"))
    assert event.actor_id is None and event.detail["by"] == OPERATOR and "Reddit" in event.reason
    assert db.scalar(select(func.count()).select_from(Source).where(Source.name == "Fast feed")) == 0


def test_import_adds_brand_handles_cleaned_as_the_web_does_and_audits_them(db, tmp_path, make_source):
    from triage.models import Event

    make_source("Legacy", "import", brand_handles=["northwind"])
    path = tmp_path / "one.jsonl"
    _jsonl(path, [record(id="h-1")])
    result = CliRunner().invoke(main, ["import", str(path), "--source", "Legacy", "--brand-handle", " @NorthwindHelp ",
                                       "--network", "Forum", "--no-wait"])
    assert result.exit_code == 0, result.output
    db.expire_all()
    source = db.scalar(select(Source).where(Source.name == "Legacy"))
    assert source.brand_handles == ["northwind", "northwindhelp"] and source.config["network"] == "forum"
    event = db.scalar(select(Event).where(Event.action == "source changed"))
    assert event.detail["before"] == {"brand_handles": ["northwind"], "network": None} and event.detail["after"] == {
        "brand_handles": ["northwind", "northwindhelp"], "network": "forum"}
    bad = CliRunner().invoke(main, ["import", str(path), "--source", "Legacy", "--brand-handle", "north wind"])
    assert bad.exit_code != 0 and "is not a handle" in bad.output
