"""A fake Mastodon instance, written from docs.joinmastodon.org (methods/notifications, timelines, search, statuses).

It speaks the real paths, JSON shapes, `min_id`/`since_id`/`max_id` pagination with Link headers, error bodies
(`{"error": ...}`) and X-RateLimit-* headers, and keeps what it was sent so tests can assert on it.
"""
from __future__ import annotations

import itertools
import re
import threading
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from flask import Flask, Response, jsonify, request

TOKEN = "fake-mastodon-token"
HOST = "fake.social"
LIMIT = 300


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class FakeMastodon:
    """State of one instance: accounts, statuses, notifications, what was posted, and failure switches."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.lock = threading.Lock()
        self._ids = itertools.count(110_000_000_000_000_001)
        self._notification_ids = itertools.count(50_001)
        self.accounts: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.posted: list[dict[str, Any]] = []  # each POST /api/v1/statuses: form, headers, the status made
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (method, path, query) of every request
        self.failures: list[tuple[str, str]] = []  # (path prefix, mode) answered once each, in order
        self.reset_at = datetime.now(UTC) + timedelta(minutes=5)
        self.max_characters = 500
        self.me = self.account("brand", display_name="Brand Support")
        self.clock = datetime.now(UTC) - timedelta(hours=2)

    def account(self, username: str, domain: str | None = None, display_name: str | None = None,
                followers: int = 10) -> dict[str, Any]:
        acct = f"{username}@{domain}" if domain else username
        account = {
            "id": str(len(self.accounts) + 1), "username": username, "acct": acct,
            "display_name": display_name if display_name is not None else username.title(),
            "locked": False, "bot": False, "created_at": _iso(datetime(2022, 1, 1, tzinfo=UTC)), "note": "",
            "url": f"https://{domain or HOST}/@{username}", "avatar": "", "header": "",
            "followers_count": followers, "following_count": 3, "statuses_count": 12, "emojis": [], "fields": [],
        }
        self.accounts[acct] = account
        return account

    def status(self, author: dict[str, Any], html: str, *, visibility: str = "public",
               in_reply_to: dict[str, Any] | None = None, tags: tuple[str, ...] = (), language: str | None = "en",
               mention_brand: bool = False) -> dict[str, Any]:
        """Add a status (a mention of the brand when `mention_brand`: it also becomes a notification)."""
        with self.lock:
            self.clock += timedelta(minutes=1)
            sid = str(next(self._ids))
            status = {
                "id": sid, "created_at": _iso(self.clock), "in_reply_to_id": in_reply_to["id"] if in_reply_to else None,
                "in_reply_to_account_id": in_reply_to["account"]["id"] if in_reply_to else None,
                "sensitive": False, "spoiler_text": "", "visibility": visibility, "language": language,
                "uri": f"https://{HOST}/users/{author['username']}/statuses/{sid}",
                "url": f"https://{HOST}/@{author['acct']}/{sid}", "replies_count": 0, "reblogs_count": 2,
                "favourites_count": 5, "content": html, "reblog": None, "account": author, "media_attachments": [],
                "mentions": [], "tags": [{"name": t, "url": f"https://{HOST}/tags/{t}"} for t in tags],
                "emojis": [], "card": None, "poll": None,
            }
            self.statuses[sid] = status
            if mention_brand:
                self.notifications.append({"id": str(next(self._notification_ids)), "type": "mention",
                                           "created_at": status["created_at"], "account": author, "status": status})
            return status

    def fail(self, path: str, mode: str) -> None:
        """Answer the next request under `path` with 401, 429, 503, 404 or "malformed" JSON."""
        self.failures.append((path, mode))


def _page(items: list[dict[str, Any]], default_limit: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Mastodon's id pagination: min_id reads forward from an id, since_id/max_id read back from the newest."""
    args = request.args
    limit = min(int(args.get("limit", default_limit)), default_limit * 2)  # notifications 40/80, statuses 20/40
    ordered = sorted(items, key=lambda i: int(i["id"]))
    if args.get("max_id"):
        ordered = [i for i in ordered if int(i["id"]) < int(args["max_id"])]
    if args.get("min_id"):
        page = [i for i in ordered if int(i["id"]) > int(args["min_id"])][:limit][::-1]
    else:
        if args.get("since_id"):
            ordered = [i for i in ordered if int(i["id"]) > int(args["since_id"])]
        page = ordered[::-1][:limit]
    links: dict[str, str] = {}
    if page:
        links["next"] = page[-1]["id"]
        links["prev"] = page[0]["id"]
    return page, links


def _link_header(links: dict[str, str]) -> str:
    kept = [(k, v) for k, vs in request.args.lists() for v in vs if k not in ("min_id", "max_id", "since_id")]
    parts = []
    for rel, key in (("next", "max_id"), ("prev", "min_id")):
        if rel in links:
            query = "&".join(f"{k}={v}" for k, v in [*kept, (key, links[rel])])
            parts.append(f'<{request.base_url}?{query}>; rel="{rel}"')
    return ", ".join(parts)


def _mastodon_length(text: str) -> int:
    """Mastodon's count (docs: statuses "max_characters"): any URL weighs 23, "@user@domain" only "@user"."""
    text = re.sub(r"(@[A-Za-z0-9_]+)@[A-Za-z0-9.-]+[A-Za-z0-9]", r"\1", text)
    return len(re.sub(r"https?://[^\s]+", "u" * 23, text))


def create_app(fake: FakeMastodon) -> Flask:
    app = Flask(__name__)
    app.url_map.strict_slashes = False

    def error(status: int, message: str) -> Response:
        response = jsonify({"error": message})
        response.status_code = status
        return response

    @app.before_request
    def gate() -> Response | None:
        fake.requests.append((request.method, request.path, {k: request.args.getlist(k) for k in request.args}))
        for index, (prefix, mode) in enumerate(fake.failures):
            if request.path.startswith(prefix):
                del fake.failures[index]
                if mode == "401":
                    return error(401, "The access token is invalid")
                if mode == "429":
                    response = error(429, "Too many requests")
                    response.headers["X-RateLimit-Remaining"] = "0"
                    return response
                if mode == "503":
                    return error(503, "Service Unavailable")
                if mode == "404":
                    return error(404, "Record not found")
                if mode == "malformed":
                    return Response('{"id": "1", "username": ', status=200, mimetype="application/json")
        if request.path.startswith("/api/v1/instance") or request.path.startswith("/api/v2/instance"):
            return None  # public
        if request.headers.get("Authorization") != f"Bearer {fake.token}":
            return error(401, "The access token is invalid")
        return None

    @app.after_request
    def rate_headers(response: Response) -> Response:
        response.headers["X-RateLimit-Limit"] = str(LIMIT)
        response.headers.setdefault("X-RateLimit-Remaining", str(LIMIT - 1))
        response.headers["X-RateLimit-Reset"] = _iso(fake.reset_at)
        return response

    @app.get("/api/v1/instance")
    def instance_v1() -> Any:
        return {"uri": HOST, "title": "Fake Social", "version": "4.3.0", "languages": ["en"],
                "configuration": {"statuses": {"max_characters": fake.max_characters}}}

    @app.get("/api/v2/instance")
    def instance_v2() -> Any:
        feeds = {"local": "public", "remote": "public"}
        return {"domain": HOST, "title": "Fake Social", "version": "4.3.0", "api_versions": {"mastodon": 2},
                "configuration": {"statuses": {"max_characters": fake.max_characters,
                                               "characters_reserved_per_url": 23},
                                  "timelines_access": {"live_feeds": feeds, "hashtag_feeds": feeds,
                                                       "trending_link_feeds": feeds}}}

    @app.get("/api/v1/accounts/verify_credentials")
    def verify_credentials() -> Any:
        return {**fake.me, "source": {"privacy": "public", "sensitive": False, "language": "en", "note": ""}}

    @app.get("/api/v1/accounts/<account_id>/statuses")
    def account_statuses(account_id: str) -> Any:
        mine = [s for s in fake.statuses.values() if s["account"]["id"] == account_id]
        return paginated(mine)

    def paginated(items: list[dict[str, Any]], default_limit: int = 20) -> Response:
        page, links = _page(items, default_limit)
        response = jsonify(page)
        if links:
            response.headers["Link"] = _link_header(links)
        return response

    @app.get("/api/v1/notifications")
    def notifications() -> Any:
        types = request.args.getlist("types[]")
        excluded = request.args.getlist("exclude_types[]")
        items = [n for n in fake.notifications
                 if (not types or n["type"] in types) and n["type"] not in excluded]
        return paginated(items, default_limit=40)

    @app.get("/api/v1/timelines/tag/<tag>")
    def hashtag(tag: str) -> Any:
        items = [s for s in fake.statuses.values() if s["visibility"] == "public"
                 and any(t["name"].lower() == tag.lower() for t in s["tags"])]
        return paginated(items)

    @app.get("/api/v2/search")
    def search() -> Any:
        q = request.args.get("q", "").lower()
        kind = request.args.get("type")
        found = [s for s in fake.statuses.values() if q and q in s["content"].lower() and s["visibility"] == "public"]
        if request.args.get("min_id"):
            found = [s for s in found if int(s["id"]) > int(request.args["min_id"])]
        if request.args.get("max_id"):
            found = [s for s in found if int(s["id"]) < int(request.args["max_id"])]
        found.sort(key=lambda s: int(s["id"]), reverse=True)
        offset = int(request.args.get("offset", 0))
        limit = min(int(request.args.get("limit", 20)), 40)
        statuses = found[offset:offset + limit] if kind in (None, "statuses") else []
        return {"accounts": [], "statuses": statuses, "hashtags": []}

    @app.post("/api/v1/statuses")
    def post_status() -> Any:
        form = request.get_json(silent=True) or request.form.to_dict()
        key = request.headers.get("Idempotency-Key")
        for earlier in fake.posted:
            if key and earlier["idempotency_key"] == key:
                return earlier["status"]
        text = str(form.get("status") or "")
        if not text.strip():
            return error(422, "Validation failed: Text can't be blank")
        if _mastodon_length(text) > fake.max_characters:
            return error(422, f"Validation failed: Text character limit of {fake.max_characters} exceeded")
        parent = fake.statuses.get(str(form.get("in_reply_to_id") or ""))
        if form.get("in_reply_to_id") and parent is None:
            return error(404, "Record not found")
        status = fake.status(fake.me, f"<p>{escape(text)}</p>", visibility=form.get("visibility") or "public",
                             in_reply_to=parent)
        fake.posted.append({"form": form, "idempotency_key": key, "status": status})
        return status

    return app


# ------------------------------------------------------------ a try-out: python -m tests.fake_mastodon --port 8091

TRYOUT_MENTIONS = (  # (username, domain, display name, visibility, text): a complaint, a question, a praise
    ("dana", "other.social", "Dana Whitfield", "unlisted",
     "my order arrived broken and nobody answers the phone, I want a refund"),
    ("sam", None, "Sam Okafor", "public", "how do I change the delivery address on my order?"),
    ("robin", "fans.example", "Robin Fan", "public", "thank you, the support team was wonderful, highly recommend!"),
)


def seed_mentions(fake: FakeMastodon) -> list[dict[str, Any]]:
    """Three customers mention the brand (a complaint, a question, a praise); their statuses, oldest first."""
    return [fake.status(fake.account(user, domain, display_name=name),
                        f'<p><span class="h-card"><a href="https://{HOST}/@brand">@brand</a></span> {escape(text)}</p>',
                        visibility=visibility, mention_brand=True)
            for user, domain, name, visibility, text in TRYOUT_MENTIONS]


def main(argv: list[str] | None = None) -> None:
    import argparse

    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser(prog="python -m tests.fake_mastodon",
                                     description="A local fake Mastodon instance to connect triage to.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args(argv)
    fake = FakeMastodon()
    seed_mentions(fake)
    app = create_app(fake)

    @app.after_request
    def log_reply(response: Response) -> Response:
        if request.method == "POST" and request.path == "/api/v1/statuses":
            form = request.get_json(silent=True) or request.form.to_dict()
            made = fake.posted[-1]["status"] if response.status_code == 200 and fake.posted else {}
            print(f"reply received ({response.status_code}): in_reply_to_id={form.get('in_reply_to_id')} "
                  f"visibility={form.get('visibility')} url={made.get('url')}\n  {form.get('status')!r}", flush=True)
        return response

    server = make_server(args.host, args.port, app, threaded=True)
    url = f"http://{args.host}:{server.server_port}"
    print(f"Fake Mastodon at {url}\n\nIn triage: Sources -> Connect Mastodon, and type\n"
          f"  Instance address: {url}\n  Access token:     {fake.token}\n\n"
          "Waiting to be polled, three mentions of @brand:")
    for status in fake.statuses.values():
        text = re.sub(r"<[^>]+>", "", status["content"])
        print(f"  {status['account']['acct']} ({status['visibility']}): {text}")
    print("\nReplies triage sends show up below. Ctrl-C stops.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
