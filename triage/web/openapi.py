"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""
from __future__ import annotations

ERROR = {"$ref": "#/components/responses/Error"}


def _op(summary: str, *, body: dict | None = None, ok: tuple[str, str, dict | None] = ("200", "The mention", None),
        extra: dict | None = None, params: list | None = None) -> dict:
    code, text, schema = ok
    responses = {code: {"description": text, **({"content": {"application/json": {"schema": schema}}}
                                                 if schema is not None else {})}}
    responses.update({"400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR, "409": ERROR})
    responses.update(extra or {})
    op = {"summary": summary, "responses": responses, "parameters": params or []}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _obj(**props) -> dict:
    required = [k.rstrip("_") for k, v in props.items() if not k.endswith("_")]
    return {"type": "object", "properties": {k.rstrip("_"): v for k, v in props.items()}, "required": required}


STR = {"type": "string"}
MENTION = {"$ref": "#/components/schemas/Mention"}
MENTION_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
QUEUE_NAME = [{"name": "name", "in": "path", "required": True, "schema": STR}]


def document() -> dict:
    post = _obj(id=STR, network=STR, text=STR, author=STR, author_name_=STR,
                author_followers_={"type": "integer", "minimum": 0}, posted_at_={"type": "string",
                                                                                 "format": "date-time"},
                url_=STR, in_reply_to_=STR, language_=STR)
    mention = {"type": "object", "properties": {
        "id": {"type": "integer"}, "network": STR, "external_id": STR, "text": STR, "status": STR, "queue": STR,
        "sentiment": STR, "intent": STR, "priority": {"type": "integer"},
        "priority_reasons": {"type": "array", "items": _obj(factor=STR, points={"type": "integer"}, detail=STR)},
        "claimed_by": {"type": ["string", "null"]}, "owner": {"type": ["string", "null"]},
        "events": {"type": "array", "items": {"type": "object"}},
        "responses": {"type": "array", "items": {"type": "object"}},
    }}
    m = "/api/v1/mentions/{id}"
    return {
        "openapi": "3.1.0",
        "info": {"title": "triage API", "version": "1",
                 "description": "Push mentions in and work the queues. Authenticate with "
                                "'Authorization: Bearer <token>' (create one with `triage token create --user NAME`)."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Post": post, "Mention": mention, "Error": _obj(error=STR)},
            "responses": {"Error": {"description": "The request was refused; `error` says why.",
                                    "content": {"application/json": {
                                        "schema": {"$ref": "#/components/schemas/Error"}}}}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/mentions": {"post": _op(
                "Push posts (stored before the answer, tagged and queued by the workers)",
                body={"type": "array", "items": {"$ref": "#/components/schemas/Post"}, "maxItems": 5000},
                ok=("202", "What was accepted, and an error per refused item",
                    _obj(accepted={"type": "integer"}, rejected={"type": "integer"}, source=STR,
                         errors={"type": "array", "items": _obj(index={"type": "integer"}, id_=STR, error=STR)})),
                params=[{"name": "source", "in": "query", "schema": STR, "description": "source name (default API)"}],
                extra={"413": ERROR})},
            "/api/v1/queues": {"get": _op("Queues with their open counts", ok=(
                "200", "The queues", {"type": "array", "items": _obj(name=STR, title=STR, open={"type": "integer"})}))},
            "/api/v1/queues/{name}/mentions": {"get": _op(
                "A queue's open mentions in working order", params=QUEUE_NAME + [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 200}}],
                ok=("200", "Mentions, highest priority first", {"type": "array", "items": MENTION}))},
            "/api/v1/queues/{name}/claim-next": {"post": _op(
                "Claim the top unclaimed mention of a queue", params=QUEUE_NAME,
                ok=("200", "The claimed mention", MENTION),
                extra={"204": {"description": "Nothing left to claim"}})},
            m: {"get": _op("A mention with its events and replies", params=MENTION_ID,
                           ok=("200", "The mention", MENTION))},
            m + "/claim": {"post": _op("Claim (409 when someone else holds it)", params=MENTION_ID,
                                       ok=("200", "The mention", MENTION))},
            m + "/release": {"post": _op("Release a claim", params=MENTION_ID, ok=("200", "The mention", MENTION))},
            m + "/reply": {"post": _op("Reply; delivered by a job with retries", params=MENTION_ID,
                                       body=_obj(text=STR, saved_reply_id_={"type": "integer"}),
                                       ok=("202", "The reply, pending delivery", {"type": "object"}))},
            m + "/escalate": {"post": _op("Escalate to 'lead', 'supervisor', a username or 'queue:<name>'",
                                          params=MENTION_ID, body=_obj(to=STR, reason=STR),
                                          ok=("200", "The mention", MENTION))},
            m + "/assign": {"post": _op("Assign an owner (leads)", params=MENTION_ID, body=_obj(user=STR),
                                        ok=("200", "The mention", MENTION))},
            m + "/resolve": {"post": _op("Resolve", params=MENTION_ID, ok=("200", "The mention", MENTION))},
            m + "/reopen": {"post": _op("Reopen", params=MENTION_ID, ok=("200", "The mention", MENTION))},
            m + "/notes": {"post": _op("Add an internal note", params=MENTION_ID, body=_obj(text=STR),
                                       ok=("201", "The mention", MENTION))},
        },
    }
