"""Where links and redirects may lead: back into this app, or out to a web page, never to a script or another site.

`safe_next` guards every redirect that takes a user-supplied target (`next`); `safe_url` guards every stored URL
(a post's, a reply's) before it becomes an `href`; `RowIdConverter` keeps the ids in URLs within what a row can have.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import has_request_context, request
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from triage.db import MAX_ROW_ID

WEB_SCHEMES = ("http", "https")


def _has_control(text: str) -> bool:
    """Browsers drop tabs and newlines inside URLs (so "/<tab>/evil" becomes "//evil"): refuse them outright."""
    return any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in text)


def is_app_path(target: str | None) -> bool:
    """True for a path on this site ("/work?view=mine"), false for anything a browser could take elsewhere."""
    if not target or not isinstance(target, str) or _has_control(target) or "\\" in target:
        return False  # a browser reads "\" as "/": "/\\evil.example" is "//evil.example"
    if not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return False
    root = request.script_root if has_request_context() else ""
    return not root or target == root or target.startswith(root + "/")


def safe_next(target: str | None, default: str) -> str:
    """The `next` to redirect to when it is a path of this app, else `default`."""
    return target if target is not None and is_app_path(target) else default


def safe_url(value: str | None) -> str:
    """A stored URL when it is an http(s) address with a host, else "" (so templates show no link)."""
    if not value or not isinstance(value, str):
        return ""
    value = value.strip()
    if _has_control(value) or "\\" in value:
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return ""
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.netloc or not parts.hostname:
        return ""
    return value


class RowIdConverter(IntegerConverter):
    """`<int:...>` in every route: digits up to the largest database id; a bigger one is a 404, not a crash.

    It answers 404 itself rather than "no match": werkzeug would report a route whose other method matched as
    405 (POST /admin/users/<huge> looked like "use GET"). No route has a string rule where an int one fails.
    """

    def to_python(self, value: str) -> int:
        if len(value) > len(str(MAX_ROW_ID)) or int(value) > MAX_ROW_ID:
            raise NotFound(f"Nothing here has the number {value[:30]}{'…' if len(value) > 30 else ''}: "
                           f"numbers go up to {MAX_ROW_ID:,}.")
        return super().to_python(value)
