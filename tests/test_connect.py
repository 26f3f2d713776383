"""Connecting a network account: checked with the network first, secrets sealed, audited without them."""
from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from triage.cli import main
from triage.core.errors import Forbidden, Invalid
from triage.core.secrets import is_sealed
from triage.intake import connections, source_settings
from triage.intake.sources import CONNECTORS
from triage.intake.sources.base import Account, ConfigField, Connector
from triage.intake.sources.results import SourceError
from triage.models import Event, Source

GOOD, OTHER = "good-token-0123456789abcdef", "second-token-9876543210"


class FakeNetwork(Connector):
    """A network whose only valid access tokens are GOOD and OTHER; keeps every config it was asked to check."""

    kind: ClassVar[str] = "fakenet"
    label: ClassVar[str] = "FakeNet"
    network: ClassVar[str] = "fakenet"
    connectable: ClassVar[bool] = True
    min_interval: ClassVar[int] = 60
    fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("server", "Server", kind="url", default="https://fake.example"),
        ConfigField("access_token", "Access token", secret=True),
        ConfigField("keywords", "Keywords", kind="list", required=False),
    )

    def __init__(self) -> None:
        self.checked: list[dict[str, Any]] = []

    def verify(self, config: dict[str, Any]) -> Account:
        self.checked.append(dict(config))
        if config["access_token"] not in (GOOD, OTHER):
            raise SourceError(f"The access token is invalid ({config['access_token']})")  # a careless network
        handle = "@BrandHelp" if config["access_token"] == GOOD else "@BrandCare"
        return Account(handle=handle, display_name="Brand Help", url=f"{config['server']}/{handle}")


@pytest.fixture
def fakenet(monkeypatch):
    network = FakeNetwork()
    monkeypatch.setitem(CONNECTORS, "fakenet", network)
    return network


def _connect(db, settings, **values):
    values = {"access_token": GOOD, **values}
    source = connections.connect_account(db, settings, None, "fakenet", "Social", values)
    db.commit()
    return source


def _everything_stored(db) -> str:
    """Every column of every source and event row, as text: what a look at the database would show."""
    rows = [{c.name: getattr(r, c.key) for c in type(r).__table__.columns} for r in db.scalars(select(Source))]
    rows += [{c.name: getattr(r, c.key) for c in Event.__table__.columns} for r in db.scalars(select(Event))]
    return json.dumps(rows, default=str, ensure_ascii=False)


def test_a_refused_credential_saves_nothing_and_says_why(db, settings, fakenet):
    with pytest.raises(Invalid) as refused:
        connections.connect_account(db, settings, None, "fakenet", "Social", {"access_token": "bad-secret-xyz"})
    assert "FakeNet refused the account: The access token is invalid" in str(refused.value)
    assert "bad-secret-xyz" not in str(refused.value)  # the network echoed it; we do not
    db.commit()
    assert db.scalar(select(func.count()).select_from(Source)) == 0
    assert db.scalar(select(func.count()).select_from(Event)) == 0


def test_connecting_stores_the_account_sealed_and_audits_it_without_the_secret(db, settings, fakenet):
    source = _connect(db, settings, keywords="northwind, north wind\nnw")
    db.expire_all()
    assert (source.kind, source.interval_seconds, source.enabled) == ("fakenet", 300, True)
    assert source.account == {"handle": "@BrandHelp", "display_name": "Brand Help",
                              "url": "https://fake.example/@BrandHelp"}
    assert source.brand_handles == ["brandhelp"]
    assert is_sealed(source.config["access_token"])
    assert connections.source_config(settings, source) == {
        "server": "https://fake.example", "access_token": GOOD, "keywords": ["northwind", "north wind", "nw"]}
    event = db.scalar(select(Event).where(Event.action == "account connected"))
    assert event.detail["after"]["kind"] == "fakenet" and event.detail["after"]["name"] == "Social"
    assert event.detail["after"]["account"] == "@BrandHelp" and "@BrandHelp" in event.reason
    assert event.detail["after"]["settings"] == {"server": "https://fake.example",
                                                 "keywords": ["northwind", "north wind", "nw"]}
    assert event.detail["after"]["secrets set"] == ["access_token"]
    assert GOOD not in _everything_stored(db) and GOOD[:12] not in _everything_stored(db)


@pytest.mark.parametrize(("values", "interval", "error"), [
    ({"access_token": ""}, None, "Access token is required"),
    ({"access_token": GOOD, "server": "ftp://fake.example"}, None, "Server must start with http"),
    ({"access_token": GOOD, "colour": "red"}, None, "FakeNet has no setting “colour”"),
    ({"access_token": GOOD * 100}, None, "Access token is too long"),
    ({"access_token": GOOD}, 30, "between 60 and 86,400"),
])
def test_settings_are_checked_before_the_network_is_asked(db, settings, fakenet, values, interval, error):
    with pytest.raises(Invalid, match=error) as refused:
        connections.connect_account(db, settings, None, "fakenet", "Social", values, interval=interval)
    assert GOOD not in str(refused.value) and fakenet.checked == []


def test_only_leads_connect_and_only_connectable_networks(db, settings, fakenet, make_user):
    with pytest.raises(Forbidden):
        connections.connect_account(db, settings, make_user("ari", "agent"), "fakenet", "Social",
                                        {"access_token": GOOD})
    with pytest.raises(Invalid, match="not a network whose accounts can be connected"):
        connections.connect_account(db, settings, None, "rss", "Feed", {})


def test_an_update_with_a_blank_secret_keeps_it_and_names_what_changed(db, settings, fakenet):
    source = _connect(db, settings)
    source.cursor = {"since": "123"}
    db.commit()
    connections.update_account(db, settings, None, source.id, {"access_token": "", "server": "https://b.example"})
    db.commit()
    assert connections.source_config(settings, source)["access_token"] == GOOD
    assert fakenet.checked[-1] == {"server": "https://b.example", "access_token": GOOD}  # checked again
    assert source.cursor == {}  # another server: its cursor means nothing here
    event = db.scalar(select(Event).where(Event.action == "account changed"))
    assert event.detail["fields"] == ["server"] and "server changed" in event.reason

    connections.update_account(db, settings, None, source.id, {"access_token": OTHER,
                                                                   "server": "https://b.example"})
    db.commit()
    changed = db.scalars(select(Event).where(Event.action == "account changed").order_by(Event.id)).all()[-1]
    assert changed.detail["fields"] == ["access_token"] and "access_token changed" in changed.reason
    assert source.account["handle"] == "@BrandCare" and source.brand_handles == ["brandcare"]
    stored = _everything_stored(db)
    assert GOOD not in stored and OTHER not in stored


def test_an_update_the_network_refuses_keeps_the_old_credentials(db, settings, fakenet):
    source = _connect(db, settings)
    with pytest.raises(Invalid, match="refused the account"):
        connections.update_account(db, settings, None, source.id, {"access_token": "wrong-one"})
    db.rollback()
    assert connections.source_config(settings, db.get(Source, source.id))["access_token"] == GOOD


def test_disconnecting_pauses_and_wipes_the_secrets(db, settings, fakenet):
    source = _connect(db, settings)
    connections.disconnect_account(db, settings, None, source.id)
    db.commit()
    assert not source.enabled and "access_token" not in source.config
    assert source.config == {"server": "https://fake.example"}
    event = db.scalar(select(Event).where(Event.action == "account disconnected"))
    assert event.detail["wiped"] == ["access_token"] and "disconnected" in event.reason
    with pytest.raises(Invalid, match="connect its FakeNet account again"):
        source_settings.resume_source(db, None, source.id)
    connections.update_account(db, settings, None, source.id, {"access_token": GOOD})  # connected again
    source_settings.resume_source(db, None, source.id)
    assert source.enabled


def test_the_console_connects_disconnects_and_rotates_without_showing_the_secret(db, fakenet, caplog):
    caplog.set_level(logging.DEBUG)
    refused = CliRunner().invoke(main, ["source", "connect", "fakenet", "--name", "Social",
                                        "--set", "access_token=bad-secret-xyz"])
    assert refused.exit_code == 1 and "FakeNet refused the account" in refused.output
    assert "bad-secret-xyz" not in refused.output
    connect = ["source", "connect", "fakenet", "--name", "Social", "--set", f"access_token={GOOD}"]
    slow = CliRunner().invoke(main, [*connect, "--every", "10"])
    assert slow.exit_code == 1 and "between 60 and 86,400" in slow.output
    done = CliRunner().invoke(main, [*connect, "--set", "keywords=northwind", "--every", "120"])
    assert done.exit_code == 0, done.output
    assert "connected to the account @BrandHelp (Brand Help https://fake.example/@BrandHelp)" in done.output
    assert "polled every 120 s" in done.output
    rotated = CliRunner().invoke(main, ["source", "rotate-key"])
    assert rotated.exit_code == 0 and "1 credentials sealed again" in rotated.output
    gone = CliRunner().invoke(main, ["source", "disconnect", "social"])
    assert gone.exit_code == 0 and "disconnected" in gone.output
    missing = CliRunner().invoke(main, ["source", "disconnect", "Nobody"])
    assert missing.exit_code == 1 and "no source called 'Nobody'" in missing.output
    db.expire_all()
    source = db.scalar(select(Source).where(Source.name == "Social"))
    assert source.enabled is False and "access_token" not in source.config
    actions = [e.action for e in db.scalars(select(Event).order_by(Event.id))]
    assert actions == ["account connected", "account disconnected"]
    for output in (refused.output, slow.output, done.output, rotated.output, gone.output, caplog.text,
                   _everything_stored(db)):
        assert GOOD not in output and "bad-secret-xyz" not in output


def test_credentials_sealed_with_a_missing_key_are_the_sources_error_and_can_be_given_again(db, settings, fakenet):
    source = _connect(db, settings.with_(secret_key="the install before"))
    with pytest.raises(SourceError, match="the credentials of source “Social” were sealed with a key this install"):
        connections.source_config(settings, source)  # what the poll job shows on the source
    with pytest.raises(Invalid, match="Access token is required"):
        connections.update_account(db, settings, None, source.id, {"access_token": ""})
    connections.update_account(db, settings, None, source.id, {"access_token": GOOD})
    assert connections.source_config(settings, source)["access_token"] == GOOD
