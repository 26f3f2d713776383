"""Settings from `TRIAGE_*` environment variables, with safe defaults for the embedded mode."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, overload

ENV_PREFIX = "TRIAGE_"


@overload
def _env(name: str) -> str | None: ...
@overload
def _env(name: str, default: str) -> str: ...


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(ENV_PREFIX + name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    redis_url: str | None  # None: start the embedded Redis server in the instance folder
    port: int = 5000
    host: str = "127.0.0.1"
    secret_key: str = ""
    queue_prefix: str = "triage"  # RQ queue names start with it; tests use their own to share a Redis
    batch_size: int = 500
    sweep_after_seconds: int = 60  # a delivery not processed after this long is enqueued again
    claim_idle_minutes: int = 15
    login_limit: str = "10 per minute;100 per hour"  # login attempts per client address
    api_limit: str = "600 per minute"  # API requests per token (per client address without one)
    secure_cookies: bool = False  # set when served over HTTPS
    min_labels_per_class: int = 20  # below this many labels in a class, a task is tagged by the rules, not learned
    # Fernet key sealing connected accounts' secrets (else one derived from the secret key), and keys they may
    # still be sealed with (after a rotation): see triage/core/secrets.py.
    credentials_key: str = ""
    credentials_old_keys: tuple[str, ...] = ()
    demo: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def load_settings(**overrides: Any) -> Settings:
    """Read the environment once; keyword arguments win over it (tests use them)."""
    instance = Path(overrides.pop("instance_path", None) or _env("INSTANCE_PATH", "instance")).resolve()
    database_url = _env("DATABASE_URL") or f"sqlite:///{instance / 'triage.sqlite3'}"
    settings = Settings(
        instance_path=instance,
        database_url=database_url,
        redis_url=_env("REDIS_URL"),
        port=int(_env("PORT", "5000")),
        host=_env("HOST", "127.0.0.1"),
        secret_key=_env("SECRET_KEY", ""),
        queue_prefix=_env("QUEUE_PREFIX", "triage"),
        batch_size=int(_env("BATCH_SIZE", "500")),
        sweep_after_seconds=int(_env("SWEEP_AFTER_SECONDS", "60")),
        claim_idle_minutes=int(_env("CLAIM_IDLE_MINUTES", "15")),
        login_limit=_env("LOGIN_LIMIT", "10 per minute;100 per hour"),
        api_limit=_env("API_LIMIT", "600 per minute"),
        secure_cookies=_env("SECURE_COOKIES", "0") in ("1", "true", "yes"),
        min_labels_per_class=int(_env("MIN_LABELS_PER_CLASS", "20")),
        credentials_key=_env("CREDENTIALS_KEY", ""),
        credentials_old_keys=tuple(k.strip() for k in _env("CREDENTIALS_OLD_KEYS", "").split(",") if k.strip()),
        demo=_env("DEMO", "1") not in ("0", "false", "no"),
    )
    return replace(settings, **overrides)


def instance_secret(instance: Path) -> str:
    """A per-install secret kept in the instance folder, so sessions survive a restart."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
