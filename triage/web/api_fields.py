"""What the JSON API reads from a request, and its bounds: a JSON object body field by field, the `limit`
parameter, the size of a push. The OpenAPI document (`openapi.py`) states these same bounds."""
from __future__ import annotations

import json
from typing import Any

from flask import request

from triage.core import errors
from triage.db import MAX_ROW_ID

MAX_ITEMS = 5000  # posts per push
DEFAULT_LIMIT, MAX_LIMIT = 50, 200  # mentions per page of a queue
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}


def json_type(value: object) -> str:
    """What a JSON value is, for a refusal: "an object", "a string", ..."""
    return _JSON_TYPES.get(type(value), "that")


def _json_object() -> dict[str, Any]:
    """The body as a JSON object; an empty body is an empty object."""
    data = request.get_data(cache=True)
    if not data.strip():
        return {}
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise errors.Invalid("the body is not valid JSON (send a JSON object)") from None
    if not isinstance(payload, dict):
        raise errors.Invalid(f"send a JSON object, not {json_type(payload)}")
    return payload


class Fields:
    """A JSON object body read field by field: a missing field, a wrong type or an unknown name is a 400 naming it.

    Nothing is coerced: `{"text": true}` is refused, not stored as "True".
    """

    def __init__(self, *names: str):
        self.values = _json_object()
        unknown = sorted(set(self.values) - set(names))
        if unknown:
            raise errors.Invalid(f"unknown field '{unknown[0][:80]}'; this takes {', '.join(names)}")

    def _get(self, name: str, optional: bool) -> object:
        value = self.values.get(name)
        if value is None and not optional:
            raise errors.Invalid(f"'{name}' is required")
        return value

    def text(self, name: str) -> str:
        """A string field that must be there."""
        return self._text(name, self._get(name, optional=False))

    def optional_text(self, name: str) -> str | None:
        value = self._get(name, optional=True)
        return None if value is None else self._text(name, value)

    def row_id(self, name: str) -> int:
        """A row's id that must be there."""
        return self._row_id(name, self._get(name, optional=False))

    def optional_row_id(self, name: str) -> int | None:
        value = self._get(name, optional=True)
        return None if value is None else self._row_id(name, value)

    @staticmethod
    def _text(name: str, value: object) -> str:
        if not isinstance(value, str):
            raise errors.Invalid(f"'{name}' must be a string, not {json_type(value)}")
        if "\x00" in value or not _encodes(value):
            raise errors.Invalid(f"'{name}' is not valid text (it holds a NUL character or a lone surrogate)")
        return value

    @staticmethod
    def _row_id(name: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ROW_ID:
            raise errors.Invalid(f"'{name}' must be a whole number from 1 to {MAX_ROW_ID}")
        return value


def _encodes(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def limit() -> int:
    """The `limit` query parameter: how many mentions, from 1 to MAX_LIMIT (DEFAULT_LIMIT when absent)."""
    raw = request.args.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= MAX_LIMIT):
        raise errors.Invalid(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)
