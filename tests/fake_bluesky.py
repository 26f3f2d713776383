"""A fake Bluesky PDS + app view speaking XRPC as the `atproto` SDK calls it (paths, params, JSON, errors).

Written from the lexicons (com.atproto.server.*, app.bsky.*): sessions with JWTs whose `exp` the SDK reads to
decide when to refresh, notifications and searches paginated with an opaque `cursor`, strong refs checked on
createRecord the way the app view threads them, XRPC error bodies {"error", "message"} and the ratelimit-*
headers. It keeps what it received (calls, bearer tokens, created records) for tests to assert on.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, request

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def count_graphemes(text: str) -> int:
    # The fake's own rough count: code points not combining and not joiners (enough for the tests' texts).
    return sum(1 for ch in text if ch not in "\u200d\ufe0f")


class FakeBluesky:
    def __init__(self, handle: str = "brand.bsky.social", password: str = "app-pass-1234",
                 display_name: str = "Brand Support") -> None:
        self.handle, self.password, self.display_name = handle, password, display_name
        self.did = "did:plc:" + hashlib.sha256(handle.encode()).hexdigest()[:24]
        self.actors: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}  # uri -> post view (with record)
        self.notifications: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []  # createRecord bodies
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (nsid, query args or body)
        self.bearers: list[tuple[str, str]] = []  # (nsid, token) of authorised calls
        self.access: set[str] = set()
        self.refresh: set[str] = set()
        self.access_ttl = timedelta(hours=2)  # of tokens from createSession
        self.refreshed_ttl: timedelta | None = None  # of tokens from refreshSession (None: access_ttl)
        self.failures: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._clock = itertools.count(1)
        self._lock = threading.Lock()
        self.actor(handle, display_name, did=self.did)

    # ------------------------------------------------------------ building the world

    def actor(self, handle: str, display_name: str | None = None, *, did: str | None = None) -> dict[str, Any]:
        did = did or "did:plc:" + hashlib.sha256(handle.encode()).hexdigest()[:24]
        profile = {"did": did, "handle": handle, **({"displayName": display_name} if display_name else {})}
        self.actors[handle] = self.actors[did] = profile
        return profile

    def _tid(self) -> str:
        n = 0x3000000000000 + next(self._ids) * 7919
        return "".join(_TID_ALPHABET[(n >> (5 * i)) & 31] for i in range(12, -1, -1))

    def post(self, handle: str, text: str, *, reply_to: str | None = None, langs: list[str] | None = None,
             created: datetime | None = None, counts: dict[str, int] | None = None,
             display_name: str | None = None) -> dict[str, Any]:
        """A post by `handle` (created if new), indexed one minute after the last one."""
        author = self.actors.get(handle) or self.actor(handle, display_name)
        indexed = START + timedelta(minutes=next(self._clock))
        record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text,
                                  "createdAt": iso(created or indexed - timedelta(seconds=5))}
        if langs:
            record["langs"] = langs
        if reply_to:
            parent = self.posts[reply_to]
            root = parent["record"].get("reply", {}).get("root") or {"uri": parent["uri"], "cid": parent["cid"]}
            record["reply"] = {"root": root, "parent": {"uri": parent["uri"], "cid": parent["cid"]}}
        return self._store(author["did"], record, indexed, counts)

    def _store(self, did: str, record: dict[str, Any], indexed: datetime,
               counts: dict[str, int] | None = None) -> dict[str, Any]:
        uri = f"at://{did}/app.bsky.feed.post/{self._tid()}"
        cid = "bafyrei" + base64.b32encode(hashlib.sha256(uri.encode()).digest()).decode().lower().rstrip("=")[:52]
        counts = counts or {}
        author = self.actors[did]
        view = {"uri": uri, "cid": cid, "author": {"did": did, "handle": author["handle"],
                                                   **({"displayName": author["displayName"]}
                                                      if author.get("displayName") else {})},
                "record": record, "indexedAt": iso(indexed),
                "replyCount": counts.get("replies", 0), "repostCount": counts.get("reposts", 0),
                "likeCount": counts.get("likes", 0), "quoteCount": counts.get("quotes", 0)}
        self.posts[uri] = view
        return view

    def notify(self, view: dict[str, Any], reason: str = "mention") -> dict[str, Any]:
        note = {"uri": view["uri"], "cid": view["cid"], "author": view["author"], "reason": reason,
                "record": view["record"], "isRead": False, "indexedAt": view["indexedAt"]}
        self.notifications.insert(0, note)  # newest first, as the app view lists them
        return note

    def delete(self, uri: str) -> None:
        self.posts.pop(uri)

    def fail(self, nsid: str, status: int, error: str = "", message: str = "", *, headers: dict[str, str] | None = None,
             raw: bytes | None = None, times: int = 1) -> None:
        """The next `times` calls of `nsid` answer `status` with an XRPC error body (or `raw` bytes as JSON)."""
        body = raw if raw is not None else json.dumps({"error": error, "message": message}).encode()
        self.failures.setdefault(nsid, []).extend([{"status": status, "body": body, "headers": headers or {}}] * times)

    def revoke_sessions(self) -> None:
        """The server forgets every token (as after a password change or a long pause): the next call must log in."""
        self.access.clear()
        self.refresh.clear()

    def count(self, nsid: str) -> int:
        return sum(1 for name, _ in self.calls if name == nsid)

    # ------------------------------------------------------------ tokens

    def _jwt(self, scope: str, ttl: timedelta) -> str:
        now = int(time.time())
        payload = {"scope": scope, "sub": self.did, "aud": "did:web:fake.pds", "iat": now,
                   "exp": now + int(ttl.total_seconds()), "jti": str(next(self._ids))}
        head = _b64(json.dumps({"typ": "at+jwt", "alg": "ES256K"}).encode())
        return f"{head}.{_b64(json.dumps(payload).encode())}.{_b64(b'not-a-real-signature')}"

    def session_string(self, base_url: str, *, access_ttl: timedelta, refresh_valid: bool) -> str:
        """A session as the SDK exports it, made by hand: e.g. an expired access token with a dead refresh token."""
        access, refresh = self._jwt("com.atproto.access", access_ttl), self._jwt("com.atproto.refresh",
                                                                                  timedelta(days=60))
        if refresh_valid:
            self.refresh.add(refresh)
        return ":::".join([self.handle, self.did, access, refresh, base_url + "/xrpc"])

    def _session_body(self, ttl: timedelta | None = None) -> dict[str, Any]:
        access, refresh = self._jwt("com.atproto.access", ttl or self.access_ttl), self._jwt("com.atproto.refresh",
                                                                                              timedelta(days=60))
        self.access.add(access)
        self.refresh.add(refresh)
        return {"accessJwt": access, "refreshJwt": refresh, "handle": self.handle, "did": self.did, "active": True}

    # ------------------------------------------------------------ the app

    def app(self) -> Flask:
        app = Flask("fake_bluesky")
        fake = self

        def headers(extra: dict[str, str] | None = None) -> dict[str, str]:
            reset = str(int(time.time()) + 300)
            return {"RateLimit-Limit": "3000", "RateLimit-Remaining": "2999", "RateLimit-Reset": reset,
                    "RateLimit-Policy": "3000;w=300", **(extra or {})}

        def answer(status: int, body: Any, extra: dict[str, str] | None = None) -> Response:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            return Response(data, status=status, mimetype="application/json", headers=headers(extra))

        def error(status: int, name: str, message: str) -> Response:
            return answer(status, {"error": name, "message": message})

        def authorised(nsid: str, pool: set[str]) -> Response | None:
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                return error(401, "AuthenticationRequired", "Authentication Required")
            token = auth.removeprefix("Bearer ")
            fake.bearers.append((nsid, token))
            if token not in pool:
                return error(400, "ExpiredToken", "Token has expired")
            return None

        @app.before_request
        def record_and_fail() -> Response | None:
            nsid = request.path.removeprefix("/xrpc/")
            args: dict[str, Any] = {k: request.args.getlist(k) for k in request.args}
            body = request.get_json(silent=True) if request.method == "POST" else None
            with fake._lock:
                fake.calls.append((nsid, body if body is not None else args))
                queued = fake.failures.get(nsid)
                failure = queued.pop(0) if queued else None
            if failure:
                return answer(failure["status"], failure["body"], failure["headers"])
            return None

        @app.post("/xrpc/com.atproto.server.createSession")
        def create_session() -> Response:
            body = request.get_json(force=True)
            if body.get("identifier") not in (fake.handle, fake.did) or body.get("password") != fake.password:
                return error(401, "AuthenticationRequired", "Invalid identifier or password")
            return answer(200, fake._session_body())

        @app.post("/xrpc/com.atproto.server.refreshSession")
        def refresh_session() -> Response:
            denied = authorised("com.atproto.server.refreshSession", fake.refresh)
            if denied:
                return denied
            fake.refresh.discard(request.headers["Authorization"].removeprefix("Bearer "))
            return answer(200, fake._session_body(fake.refreshed_ttl))

        @app.get("/xrpc/com.atproto.server.getSession")
        def get_session() -> Response:
            return authorised("com.atproto.server.getSession", fake.access) or answer(
                200, {"handle": fake.handle, "did": fake.did, "active": True})

        @app.get("/xrpc/app.bsky.actor.getProfile")
        def get_profile() -> Response:
            denied = authorised("app.bsky.actor.getProfile", fake.access)
            actor = fake.actors.get(request.args.get("actor", ""))
            if denied or actor is None:
                return denied or error(400, "InvalidRequest", "Profile not found")
            return answer(200, {**actor, "followersCount": 12, "followsCount": 3, "postsCount": 40})

        def page(items: list[Any], key: str) -> Response:
            limit = int(request.args.get("limit", 50))
            start = int(request.args.get("cursor") or 0)
            chunk = items[start:start + limit]
            body: dict[str, Any] = {key: chunk}
            if start + limit < len(items):
                body["cursor"] = str(start + limit)
            return answer(200, body)

        @app.get("/xrpc/app.bsky.notification.listNotifications")
        def list_notifications() -> Response:
            denied = authorised("app.bsky.notification.listNotifications", fake.access)
            reasons = request.args.getlist("reasons")
            notes = [n for n in fake.notifications if not reasons or n["reason"] in reasons]
            return denied or page(notes, "notifications")

        @app.get("/xrpc/app.bsky.feed.searchPosts")
        def search_posts() -> Response:
            denied = authorised("app.bsky.feed.searchPosts", fake.access)
            q = request.args.get("q", "").lower()
            since = request.args.get("since")
            hits = [v for v in fake.posts.values() if q in v["record"]["text"].lower()
                    and (not since or v["indexedAt"] >= iso(datetime.fromisoformat(since.replace("Z", "+00:00"))))]
            hits.sort(key=lambda v: v["indexedAt"], reverse=True)
            return denied or page(hits, "posts")

        @app.get("/xrpc/app.bsky.feed.getPosts")
        def get_posts() -> Response:
            denied = authorised("app.bsky.feed.getPosts", fake.access)
            uris = request.args.getlist("uris")
            if len(uris) > 25:
                return error(400, "InvalidRequest", "uris must not have more than 25 elements")
            return denied or answer(200, {"posts": [fake.posts[u] for u in uris if u in fake.posts]})

        @app.get("/xrpc/app.bsky.feed.getAuthorFeed")
        def get_author_feed() -> Response:
            denied = authorised("app.bsky.feed.getAuthorFeed", fake.access)
            actor = fake.actors.get(request.args.get("actor", ""))
            if denied or actor is None:
                return denied or error(400, "InvalidRequest", "Profile not found")
            own = [v for v in fake.posts.values() if v["author"]["did"] == actor["did"]]
            own.sort(key=lambda v: v["indexedAt"], reverse=True)
            return page([{"post": v} for v in own], "feed")

        @app.post("/xrpc/com.atproto.repo.createRecord")
        def create_record() -> Response:
            denied = authorised("com.atproto.repo.createRecord", fake.access)
            if denied:
                return denied
            body = request.get_json(force=True)
            record = body.get("record") or {}
            if body.get("repo") not in (fake.did, fake.handle) or body.get("collection") != "app.bsky.feed.post":
                return error(400, "InvalidRequest", "Invalid repo or collection")
            if count_graphemes(record.get("text", "")) > 300:
                return error(400, "InvalidRequest", "Invalid app.bsky.feed.post record: Record/text must not be "
                                                    "longer than 300 graphemes")
            for part in ("root", "parent"):
                ref = (record.get("reply") or {}).get(part) or {}
                known = fake.posts.get(ref.get("uri", ""))
                if record.get("reply") and (known is None or known["cid"] != ref.get("cid")):
                    return error(400, "InvalidRequest", f"Could not find reply {part}: {ref.get('uri')}")
            fake.created.append(body)
            view = fake._store(fake.did, record, START + timedelta(minutes=next(fake._clock)))
            return answer(200, {"uri": view["uri"], "cid": view["cid"], "validationStatus": "valid"})

        return app


# ------------------------------------------------------------ a try-out: python -m tests.fake_bluesky --port 8092

TRYOUT_THREAD = ("alice.bsky.social", "Alice Moreau", "Trip report: three flights, two countries, one lost suitcase.")
TRYOUT_MENTIONS = (  # (handle, display name, text): a complaint (a reply in Alice's thread), a question, a praise
    ("dana.bsky.social", "Dana Whitfield", "my order arrived broken and nobody answers the phone, I want a refund"),
    ("sam.bsky.social", "Sam Okafor", "how do I change the delivery address on my order?"),
    ("robin.bsky.social", "Robin Fan", "thank you, the support team was wonderful, highly recommend!"),
)


def seed_mentions(fake: FakeBluesky) -> list[dict[str, Any]]:
    """Three people mention the brand (a complaint, a question, a praise), each a notification; their post views,
    oldest first. The complaint answers someone else's post, so a reply to it has a root apart from its parent."""
    handle, name, text = TRYOUT_THREAD
    opener = fake.post(handle, text, display_name=name, langs=["en"])
    views = []
    for index, (who, display_name, words) in enumerate(TRYOUT_MENTIONS):
        view = fake.post(who, f"@{fake.handle} {words}", display_name=display_name, langs=["en"],
                         reply_to=opener["uri"] if index == 0 else None, counts={"likes": 2 + index})
        fake.notify(view, "mention")
        views.append(view)
    return views


def main(argv: list[str] | None = None) -> None:
    import argparse

    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser(prog="python -m tests.fake_bluesky",
                                     description="A local fake Bluesky PDS to connect triage to.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8092)
    args = parser.parse_args(argv)
    fake = FakeBluesky()
    seed_mentions(fake)
    app = fake.app()

    @app.after_request
    def log_reply(response: Response) -> Response:
        if request.path == "/xrpc/com.atproto.repo.createRecord":
            record = (request.get_json(silent=True) or {}).get("record") or {}
            reply = record.get("reply") or {}
            made = json.loads(response.get_data()) if response.status_code == 200 else {}
            print(f"reply received ({response.status_code}): uri={made.get('uri')}\n"
                  f"  root={(reply.get('root') or {}).get('uri')}\n  parent={(reply.get('parent') or {}).get('uri')}\n"
                  f"  {record.get('text')!r}", flush=True)
        return response

    server = make_server(args.host, args.port, app, threaded=True)
    url = f"http://{args.host}:{server.server_port}"
    print(f"Fake Bluesky at {url}\n\nIn triage: Sources -> Connect Bluesky, and type\n"
          f"  Handle:           {fake.handle}\n  App password:     {fake.password}\n"
          f"  Service (PDS) URL: {url}\n\nWaiting to be polled, three mentions of @{fake.handle}:")
    for note in reversed(fake.notifications):
        print(f"  {note['author']['handle']}: {note['record']['text']}")
    print("\nReplies triage sends show up below. Ctrl-C stops.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
