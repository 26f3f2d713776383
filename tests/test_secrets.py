"""Secrets at rest: sealed with Fernet, opened by the current or an old key, rotated, and never shown in an error."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from cryptography.fernet import Fernet

from triage.config import load_settings
from triage.core import secrets
from triage.models import Source


@dataclass(frozen=True)
class Field:
    name: str
    secret: bool = False


FIELDS = (Field("server"), Field("access_token", secret=True), Field("password", secret=True))
PLAIN = {"server": "https://social.example", "access_token": "tok-very-secret-1234", "password": ""}


def test_sealing_round_trips_and_keeps_only_secret_fields_sealed(settings):
    sealed = secrets.seal(settings, PLAIN, FIELDS)
    assert sealed["server"] == PLAIN["server"] and sealed["password"] == ""  # empty: nothing to seal
    assert secrets.is_sealed(sealed["access_token"]) and not secrets.is_sealed(sealed["server"])
    assert "tok-very-secret-1234" not in json.dumps(sealed)
    assert secrets.unseal(settings, sealed) == PLAIN
    assert secrets.seal(settings, sealed, FIELDS) == sealed  # sealing again leaves sealed values as they are


def test_the_derived_key_follows_the_secret_key(settings):
    sealed = secrets.seal(settings, PLAIN, FIELDS)
    assert secrets.unseal(settings.with_(), sealed) == PLAIN  # the same secret key derives the same key
    with pytest.raises(secrets.UnknownKey):
        secrets.unseal(settings.with_(secret_key="another install"), sealed)


def test_an_explicit_key_seals_and_the_derived_one_still_opens_what_it_sealed(settings):
    key = Fernet.generate_key().decode()
    before = secrets.seal(settings, PLAIN, FIELDS)  # sealed before TRIAGE_CREDENTIALS_KEY was set
    explicit = settings.with_(credentials_key=key)
    after = secrets.seal(explicit, PLAIN, FIELDS)
    assert secrets.unseal(explicit, before) == PLAIN and secrets.unseal(explicit, after) == PLAIN
    assert Fernet(key.encode()).decrypt(after["access_token"]["sealed"].encode()) == b"tok-very-secret-1234"
    with pytest.raises(secrets.UnknownKey):
        secrets.unseal(settings, after)  # without the explicit key it cannot be opened


def test_rotation_reseals_with_the_current_key_so_the_old_one_can_go(db, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with_old = settings.with_(credentials_key=old)
    db.add(Source(kind="fakenet", name="Social", config=secrets.seal(with_old, PLAIN, FIELDS), cursor={}))
    db.add(Source(kind="rss", name="Feed", config={"url": "https://example.com/feed"}, cursor={}))
    db.commit()
    rotating = settings.with_(credentials_key=new, credentials_old_keys=(old,))
    assert secrets.unseal(rotating, db.query(Source).filter_by(name="Social").one().config) == PLAIN
    assert secrets.rotate(db, rotating) == 1
    db.commit()
    db.expire_all()
    config = db.query(Source).filter_by(name="Social").one().config
    assert secrets.unseal(settings.with_(credentials_key=new), config) == PLAIN  # no old key needed any more
    with pytest.raises(secrets.UnknownKey):
        secrets.unseal(with_old, config)
    assert db.query(Source).filter_by(name="Feed").one().config == {"url": "https://example.com/feed"}


def test_a_token_no_key_opens_names_the_source_and_the_setting_never_the_token(db, settings):
    foreign = secrets.seal(settings.with_(credentials_key=Fernet.generate_key().decode()), PLAIN, FIELDS)
    token = foreign["access_token"]["sealed"]
    with pytest.raises(secrets.UnknownKey) as unseal_error:
        secrets.unseal(settings, foreign, owner="source “Social”")
    db.add(Source(kind="fakenet", name="Social", config=foreign, cursor={}))
    db.flush()
    with pytest.raises(secrets.UnknownKey) as rotate_error:
        secrets.rotate(db, settings)
    for error in (unseal_error.value, rotate_error.value):
        message = str(error)
        assert "source “Social”" in message and "TRIAGE_CREDENTIALS_OLD_KEYS" in message
        assert token not in message and token[:20] not in message and error.__cause__ is None


def test_a_key_setting_that_is_not_a_fernet_key_is_refused_clearly(settings):
    with pytest.raises(secrets.CredentialsError, match="TRIAGE_CREDENTIALS_KEY is not a Fernet key"):
        secrets.seal(settings.with_(credentials_key="hunter2"), PLAIN, FIELDS)
    with pytest.raises(secrets.CredentialsError, match="TRIAGE_CREDENTIALS_OLD_KEYS is not a Fernet key"):
        secrets.unseal(settings.with_(credentials_old_keys=("nope",)), secrets.seal(settings, PLAIN, FIELDS))


def test_the_keys_are_read_from_the_environment(monkeypatch, tmp_path):
    key, old1, old2 = (Fernet.generate_key().decode() for _ in range(3))
    monkeypatch.setenv("TRIAGE_CREDENTIALS_KEY", key)
    monkeypatch.setenv("TRIAGE_CREDENTIALS_OLD_KEYS", f"{old1}, {old2},")
    loaded = load_settings(instance_path=tmp_path)
    assert loaded.credentials_key == key and loaded.credentials_old_keys == (old1, old2)
