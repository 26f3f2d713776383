"""Secrets at rest: a connected account's tokens and passwords are sealed in `sources.config`, never kept plain.

A secret value is stored as {"sealed": "<Fernet token>"}. The key is TRIAGE_CREDENTIALS_KEY (a Fernet key) when
set, else one derived (HKDF-SHA256) from the app's secret key, so an install without any setting still seals.
Keys in TRIAGE_CREDENTIALS_OLD_KEYS (comma separated) still open what they sealed, and `rotate` seals everything
again with the current key; then the old keys can go. A token no key opens is an error that names the source and
the setting to fix, never the token.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from triage.config import Settings, instance_secret
from triage.models import Source

SEALED = "sealed"
_HKDF_SALT = b"triage credentials"  # fixed: the derived key must be the same on every start
_HKDF_INFO = b"triage sources.config fernet key v1"


class SecretField(Protocol):
    """What sealing needs of a connector's setting (a `ConfigField`): its name and whether it is secret."""

    @property
    def name(self) -> str: ...

    @property
    def secret(self) -> bool: ...


class CredentialsError(Exception):
    """A key setting that is not a Fernet key, or a sealed value no key of this install opens."""


class UnknownKey(CredentialsError):
    """A sealed value was sealed with a key this install does not have."""


def _fernet(key: str, setting: str) -> Fernet:
    try:
        return Fernet(key.strip().encode("ascii"))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise CredentialsError(f"{setting} is not a Fernet key (32 bytes, url-safe base64: make one with "
                               "`python -c 'from cryptography.fernet import Fernet; "
                               "print(Fernet.generate_key().decode())'`)") from None


def derived_key(settings: Settings) -> str:
    """The Fernet key derived from the app's secret key (TRIAGE_SECRET_KEY or the instance's secret_key file)."""
    secret = settings.secret_key or instance_secret(settings.instance_path)
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(secret.encode("utf-8"))
    return base64.urlsafe_b64encode(raw).decode("ascii")


def keys(settings: Settings) -> MultiFernet:
    """The current key first (it seals), then every key that may still open: the old ones, and the derived key
    when an explicit one took its place."""
    current = (_fernet(settings.credentials_key, "TRIAGE_CREDENTIALS_KEY") if settings.credentials_key
               else _fernet(derived_key(settings), "the secret key"))
    older = [_fernet(k, "TRIAGE_CREDENTIALS_OLD_KEYS") for k in settings.credentials_old_keys]
    if settings.credentials_key:
        older.append(_fernet(derived_key(settings), "the secret key"))
    return MultiFernet([current, *older])


def is_sealed(value: Any) -> bool:
    """Whether `value` is a sealed secret as stored: {"sealed": "<token>"}."""
    return isinstance(value, dict) and set(value) == {SEALED} and isinstance(value[SEALED], str)


def seal(settings: Settings, config: dict[str, Any], fields: Iterable[SecretField]) -> dict[str, Any]:
    """`config` with each secret field's plain value replaced by its sealed form (sealed or empty ones as they are)."""
    secret = {f.name for f in fields if f.secret}
    box = keys(settings)
    out = dict(config)
    for name, value in config.items():
        if name in secret and isinstance(value, str) and value:
            out[name] = {SEALED: box.encrypt(value.encode("utf-8")).decode("ascii")}
    return out


def _unknown_key(owner: str) -> UnknownKey:
    return UnknownKey(f"the credentials of {owner} were sealed with a key this install does not have: set "
                      "TRIAGE_CREDENTIALS_OLD_KEYS to the key they were sealed with (or connect the account again)")


def unseal(settings: Settings, config: dict[str, Any], *, owner: str = "this source") -> dict[str, Any]:
    """`config` with every sealed value opened, for a connector; `owner` names the source in an error."""
    if not any(is_sealed(v) for v in config.values()):
        return dict(config)
    box = keys(settings)
    out = dict(config)
    for name, value in config.items():
        if is_sealed(value):
            try:
                out[name] = box.decrypt(value[SEALED].encode("ascii")).decode("utf-8")
            except (InvalidToken, UnicodeError):
                raise _unknown_key(owner) from None
    return out


def _resealed(box: MultiFernet, values: dict[str, Any], owner: str) -> tuple[dict[str, Any], int]:
    out, count = dict(values), 0
    for name, value in values.items():
        if is_sealed(value):
            try:
                out[name] = {SEALED: box.rotate(value[SEALED].encode("ascii")).decode("ascii")}
            except (InvalidToken, UnicodeError):
                raise _unknown_key(owner) from None
            count += 1
    return out, count


def rotate(session: Session, settings: Settings) -> int:
    """Seal every source's sealed values (config and cursor) again with the current key (caller commits); returns
    how many."""
    box = keys(settings)
    count = 0
    for source in session.scalars(select(Source).order_by(Source.id)):
        owner = f"source “{source.name}”"
        config, in_config = _resealed(box, source.config or {}, owner)
        cursor, in_cursor = _resealed(box, source.cursor or {}, owner)
        if in_config:
            source.config = config  # a new dict: the JSON column sees the change
        if in_cursor:
            source.cursor = cursor
        count += in_config + in_cursor
    session.flush()
    return count


__all__ = ["CredentialsError", "SEALED", "SecretField", "UnknownKey", "derived_key", "is_sealed", "keys", "rotate",
           "seal", "unseal"]
