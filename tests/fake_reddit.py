"""A fake Reddit for praw, written from Reddit's API docs (reddit.com/dev/api, the OAuth2 wiki).

It speaks the paths praw calls: the password grant at POST /api/v1/access_token (HTTP basic auth with the app's
client id and secret; a wrong password is a 200 with {"error": "invalid_grant"}, as Reddit answers), then bearer
calls: /api/v1/me, /message/mentions, /user/<name>/comments, /r/<subs>/search and /r/<subs>/new as Listings
(newest first, `limit` capped at `page_size`, `after` = the last child's fullname), and POST /api/comment.
Switches make it answer 401, 429 (with Reddit's x-ratelimit-* headers), 503, malformed JSON, or Reddit's error
list for a deleted comment. It keeps what it received so tests can assert on it.
"""
from __future__ import annotations

import itertools
from typing import Any

from flask import Flask, Response, abort, jsonify, request

EPOCH = 1_764_590_400  # 2025-12-01 12:00 UTC


class FakeReddit:
    def __init__(self, *, username: str = "AcmeSupport", password: str = "right horse",
                 client_id: str = "app-id", client_secret: str = "app-secret") -> None:
        self.username, self.password = username, password
        self.client_id, self.client_secret = client_id, client_secret
        self.mentions: list[dict[str, Any]] = []  # newest first, as Reddit lists them
        self.submissions: list[dict[str, Any]] = []
        self.comments: list[dict[str, Any]] = []  # every comment, the brand's included
        self.page_size = 100  # Reddit's most per page
        self.fail_status: int | None = None  # 401, 429 or 503 for every API call (not the token)
        self.remaining = 99  # x-ratelimit-remaining on answers that succeed
        self.malformed = False  # a 200 whose body is not JSON
        self.deleted: set[str] = set()  # fullnames whose replies get DELETED_COMMENT
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, query or form
        self.replies: list[dict[str, str]] = []  # the forms POSTed to /api/comment
        self._ids = itertools.count(1000)
        self.app = self._build()

    # ------------------------------------------------------------ test data

    def _next_id(self) -> str:
        return _base36(next(self._ids) * 7919)

    def add_comment(self, body: str, *, author: str = "someone", subreddit: str = "gadgets", parent: str = "",
                    at: int = 0, score: int = 1, mention: bool = False) -> dict[str, Any]:
        """A comment (newest first); `mention` also puts it in the brand's inbox as a username mention."""
        cid = self._next_id()
        link = parent if parent.startswith("t3_") else "t3_" + self._next_id()
        permalink = f"/r/{subreddit}/comments/{link[3:]}/a_thread/{cid}/"
        data = {"id": cid, "name": f"t1_{cid}", "body": body, "author": author, "subreddit": subreddit,
                "subreddit_name_prefixed": f"r/{subreddit}", "parent_id": parent or link, "link_id": link,
                "created_utc": float(EPOCH + at), "score": score, "permalink": permalink, "replies": ""}
        self.comments.insert(0, data)
        if mention:
            # Inbox items are messages shaped like comments: "context" instead of "permalink", and a type.
            item = {k: v for k, v in data.items() if k not in ("permalink", "replies")}
            item.update({"context": permalink + "?context=3", "type": "username_mention", "was_comment": True,
                         "new": True, "link_title": "A thread", "num_comments": None, "subject": "username mention"})
            self.mentions.insert(0, item)
        return data

    def add_submission(self, title: str, selftext: str = "", *, author: str = "poster", subreddit: str = "gadgets",
                       at: int = 0, score: int = 5, num_comments: int = 0) -> dict[str, Any]:
        sid = self._next_id()
        data = {"id": sid, "name": f"t3_{sid}", "title": title, "selftext": selftext, "author": author,
                "subreddit": subreddit, "created_utc": float(EPOCH + at), "score": score,
                "num_comments": num_comments, "permalink": f"/r/{subreddit}/comments/{sid}/a_title/",
                "is_self": True, "url": f"https://www.reddit.com/r/{subreddit}/comments/{sid}/a_title/"}
        self.submissions.insert(0, data)
        return data

    # ------------------------------------------------------------ the server

    def _build(self) -> Flask:
        app = Flask(__name__)
        fake = self

        @app.post("/api/v1/access_token")
        def access_token() -> Any:
            fake.requests.append(("POST", request.path, {k: v for k, v in request.form.items() if k != "password"}))
            auth = request.authorization
            if auth is None or (auth.username, auth.password) != (fake.client_id, fake.client_secret):
                return jsonify({"message": "Unauthorized", "error": 401}), 401
            if request.form.get("grant_type") != "password":
                return jsonify({"error": "unsupported_grant_type"})
            if (request.form.get("username"), request.form.get("password")) != (fake.username, fake.password):
                return jsonify({"error": "invalid_grant"})
            return jsonify({"access_token": "token-" + fake.username, "token_type": "bearer",
                            "expires_in": 86400, "scope": "*"})

        @app.before_request
        def api_checks() -> Any:
            if request.path == "/api/v1/access_token":
                return None
            params = request.form if request.method == "POST" else request.args
            fake.requests.append((request.method, request.path, dict(params.items())))
            if request.headers.get("Authorization") != f"bearer token-{fake.username}" or fake.fail_status == 401:
                return Response('{"message": "Unauthorized", "error": 401}', 401, mimetype="application/json",
                                headers={"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'})
            if fake.fail_status == 429:
                return Response("<html><body>Too Many Requests</body></html>", 429, mimetype="text/html",
                                headers={"x-ratelimit-remaining": "0", "x-ratelimit-used": "100",
                                         "x-ratelimit-reset": "42"})
            if fake.fail_status == 503:
                return Response("<html><body>upstream connect error</body></html>", 503, mimetype="text/html")
            if fake.malformed:
                return Response("<html><body>our CDN is confused", 200, mimetype="application/json")
            return None

        @app.after_request
        def rate_headers(response: Response) -> Response:
            if request.path != "/api/v1/access_token" and response.status_code != 429:
                response.headers.update({"x-ratelimit-remaining": str(fake.remaining), "x-ratelimit-used": "1",
                                         "x-ratelimit-reset": "300"})
            return response

        @app.get("/api/v1/me")
        def me() -> Any:
            return jsonify({"name": fake.username, "id": "b0b", "created_utc": float(EPOCH - 10**7),
                            "link_karma": 1, "comment_karma": 2,
                            "subreddit": {"display_name": f"u_{fake.username}", "title": "Acme Support",
                                          "name": "t5_b0b"}})

        @app.get("/message/mentions")
        def mentions() -> Any:
            return _listing([("t1", item) for item in fake.mentions], fake.page_size)

        @app.get("/user/<name>/comments")
        def user_comments(name: str) -> Any:
            mine = [c for c in fake.comments if c["author"].lower() == name.lower()]
            return _listing([("t1", item) for item in mine], fake.page_size)

        @app.get("/r/<subs>/search/")
        @app.get("/r/<subs>/search")
        def search(subs: str) -> Any:
            words = request.args.get("q", "").lower()
            hits = [s for s in fake._in(subs) if words in (s["title"] + " " + s["selftext"]).lower()]
            return _listing([("t3", item) for item in hits], fake.page_size)

        @app.get("/r/<subs>/new")
        def new(subs: str) -> Any:
            return _listing([("t3", item) for item in fake._in(subs)], fake.page_size)

        @app.post("/api/comment/")
        @app.post("/api/comment")
        def comment() -> Any:
            thing_id, text = request.form.get("thing_id", ""), request.form.get("text", "")
            fake.replies.append({"thing_id": thing_id, "text": text})
            if thing_id in fake.deleted:
                return jsonify({"json": {"errors": [["DELETED_COMMENT", "that comment has been deleted", "parent"]]}})
            if len(text) > 10_000:
                return jsonify({"json": {"errors": [["TOO_LONG", "this is too long (max: 10000)", "text"]]}})
            parent = next((c for c in fake.comments + fake.submissions if c["name"] == thing_id), None)
            if parent is None:
                abort(404)
            data = fake.add_comment(text, author=fake.username, subreddit=parent["subreddit"], parent=thing_id,
                                    at=int(parent["created_utc"]) - EPOCH + 60)
            return jsonify({"json": {"errors": [], "data": {"things": [{"kind": "t1", "data": data}]}}})

        return app

    def _in(self, subs: str) -> list[dict[str, Any]]:
        names = {s.lower() for s in subs.split("+")}
        return [s for s in self.submissions if "all" in names or s["subreddit"].lower() in names]


def _listing(children: list[tuple[str, dict[str, Any]]], page_size: int) -> Any:
    """One page of a Listing: `limit` (at most `page_size`) children after the fullname in `after`."""
    start = 0
    after = request.args.get("after")
    if after:
        start = next((i + 1 for i, (_, data) in enumerate(children) if data["name"] == after), len(children))
    limit = max(1, min(int(request.args.get("limit", 25)), page_size))
    page = children[start:start + limit]
    more = start + limit < len(children)
    return jsonify({"kind": "Listing", "data": {
        "after": page[-1][1]["name"] if page and more else None, "before": None, "dist": len(page),
        "modhash": None, "children": [{"kind": kind, "data": data} for kind, data in page]}})


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


# ------------------------------------------------------------ a try-out: python -m tests.fake_reddit --port 8093

TRYOUT_MENTIONS = (  # (author, subreddit, text): a complaint, a question, a praise
    ("dana_w", "gadgets", "my order arrived broken and nobody answers the phone, I want a refund"),
    ("sam_okafor", "shipping", "how do I change the delivery address on my order?"),
    ("robin_fan", "gadgets", "thank you, the support team was wonderful, highly recommend!"),
)


def seed_mentions(fake: FakeReddit) -> list[dict[str, Any]]:
    """Three redditors mention the brand's account (a complaint, a question, a praise); their comments, oldest
    first, each in the brand's inbox as a username mention."""
    return [fake.add_comment(f"u/{fake.username} {text}", author=author, subreddit=subreddit, at=60 * (index + 1),
                             score=3 + index, mention=True)
            for index, (author, subreddit, text) in enumerate(TRYOUT_MENTIONS)]


def main(argv: list[str] | None = None) -> None:
    import argparse

    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser(prog="python -m tests.fake_reddit",
                                     description="A local fake Reddit to connect triage to.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8093)
    args = parser.parse_args(argv)
    fake = FakeReddit()
    seed_mentions(fake)

    @fake.app.after_request
    def log_reply(response: Response) -> Response:
        if request.method == "POST" and request.path.rstrip("/") == "/api/comment":
            made = fake.comments[0] if response.status_code == 200 and fake.comments else {}
            print(f"reply received ({response.status_code}): thing_id={request.form.get('thing_id')} "
                  f"permalink={made.get('permalink')}\n  {request.form.get('text')!r}", flush=True)
        return response

    server = make_server(args.host, args.port, fake.app, threaded=True)
    url = f"http://{args.host}:{server.server_port}"
    print(f"Fake Reddit at {url}\n\nIn triage: Sources -> Connect Reddit, and type\n"
          f"  Client id:       {fake.client_id}\n  Client secret:   {fake.client_secret}\n"
          f"  Username:        {fake.username}\n  Password:        {fake.password}\n"
          f"  API address:     {url}\n  Sign-in address: {url}\n\n"
          f"Waiting to be polled, three mentions of u/{fake.username}:")
    for item in reversed(fake.mentions):
        print(f"  u/{item['author']} in r/{item['subreddit']}: {item['body']}")
    print("\nReplies triage sends show up below. Ctrl-C stops.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
