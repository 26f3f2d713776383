"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.

It promises only what the code does: the types and bounds `api_fields` enforces (`Fields`, `limit`), every status an
operation can answer, and the error body. `tests/test_api_fuzz.py` holds the running app to it with schemathesis.
It reads the bounds, never the views: `api.py` serves it.
"""
from __future__ import annotations

from typing import Any

from triage.db import MAX_ROW_ID
from triage.intake.posts import MAX_FOLLOWERS, MAX_TEXT_CHARS
from triage.models.mentions import ANSWERED, IRRELEVANT, NEW, OPEN, RESOLVED, SPAM
from triage.tagging.classifier import INTENTS, SENTIMENTS
from triage.web.api_fields import DEFAULT_LIMIT, MAX_ITEMS, MAX_LIMIT
from triage.work.replies import NOTE_LIMIT

Schema = dict[str, Any]  # a piece of the JSON document

ERRORS = {code: {"$ref": f"#/components/responses/{name}"} for code, name in (
    ("400", "BadRequest"), ("401", "Unauthorized"), ("403", "Forbidden"), ("404", "NotFound"),
    ("409", "Conflict"), ("413", "TooLarge"), ("429", "TooManyRequests"))}
STR = {"type": "string"}
INT = {"type": "integer"}
NULLABLE_STR = {"type": ["string", "null"]}
WHEN = {"type": ["string", "null"], "format": "date-time"}
# Text the domain cleans and then refuses when blank: at least one character that is not white space.
TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}
ROW_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}
MENTION = {"$ref": "#/components/schemas/Mention"}
ERROR_BODY = {"$ref": "#/components/schemas/Error"}
MENTION_DETAIL = {"$ref": "#/components/schemas/MentionDetail"}
MENTION_ID = {"name": "id", "in": "path", "required": True, "schema": ROW_ID, "description": "the mention's id"}
# Pushed items are not held to `Post` by the request: a bad item is refused on its own (in `errors`), the rest land.
POSTS = {"type": "array", "maxItems": MAX_ITEMS, "items": {"description": "a Post"}}
CUSTOMER_RECORDS = {"type": "array", "maxItems": MAX_ITEMS, "items": {"description": "a customer record"}}
QUEUE_NAME = {"name": "name", "in": "path", "required": True, "schema": STR,
              "description": "the queue's short name (see GET /api/v1/queues)"}


def _obj(*, required: tuple[str, ...] | None = None, closed: bool = True, **props: Any) -> Schema:
    """An object schema; every property is required unless `required` names the ones that are."""
    schema: Schema = {"type": "object", "properties": props, "required": list(props if required is None else required)}
    if closed:
        schema["additionalProperties"] = False
    return schema


def _body(schema: Schema, description: str) -> Schema:
    return {"required": True, "description": description, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, *, ok: tuple[str, str, Schema | None], errors: tuple[str, ...] = ("401", "403", "404"),
        body: Schema | None = None, params: tuple[Schema, ...] = (MENTION_ID,), description: str | None = None,
        extra: Schema | None = None) -> Schema:
    code, text, schema = ok
    responses: Schema = {code: {"description": text, **({"content": {"application/json": {"schema": schema}}}
                                                 if schema is not None else {})}}
    responses.update(extra or {})
    # Every operation: a NUL character anywhere is 400, a bad token 401, a token scoped out of it 403, and past
    # the rate limit 429.
    responses.update({c: ERRORS[c] for c in sorted({"400", "401", "403", "429", *errors})})
    op: Schema = {"summary": summary, "responses": responses, "parameters": list(params)}
    if description:
        op["description"] = description
    if body is not None:
        op["requestBody"] = body
    return op


def _schemas() -> Schema:
    author = _obj(id=INT, handle=STR, name=NULLABLE_STR, followers={"type": ["integer", "null"]})
    account = _obj(id=INT, network=STR, handle=STR, name=NULLABLE_STR)
    mention_props: Schema = {
        "id": INT, "network": STR, "external_id": STR, "text": STR,
        "url": {"type": ["string", "null"], "description": "the post on its network, as the source gave it; "
                "only http(s) addresses are safe to open"},
        "author": author,
        "posted_at": {"type": "string", "format": "date-time"},
        "ingested_at": {"type": "string", "format": "date-time"},
        "status": {"enum": [NEW, OPEN, ANSWERED, RESOLVED, SPAM, IRRELEVANT]},
        "queue": NULLABLE_STR, "sentiment": {"enum": [*SENTIMENTS, None]}, "polarity": {"type": ["number", "null"]},
        "intent": {"enum": [*INTENTS, None]}, "intent_confidence": {"type": ["number", "null"]},
        "cues": {"type": ["array", "null"], "items": STR}, "priority": {"type": ["integer", "null"]},
        "priority_reasons": {"type": ["array", "null"], "items": _obj(factor=STR, points=INT, detail=STR)},
        "urgent": {"type": ["boolean", "null"]},
        "claimed_by": NULLABLE_STR, "owner": NULLABLE_STR,
        "escalated_at": WHEN, "escalation_reason": NULLABLE_STR,
        "first_claimed_at": WHEN, "first_response_at": WHEN, "resolved_at": WHEN,
        "first_response_due_at": {**WHEN, "description": "when the first reply is due (the SLA); null when none"},
        "resolution_due_at": {**WHEN, "description": "when it should be resolved (the SLA); null when none"},
    }
    event = _obj(action=STR, actor=NULLABLE_STR, from_=NULLABLE_STR, to=NULLABLE_STR, reason=NULLABLE_STR,
                 at={"type": "string", "format": "date-time"}, detail={"type": ["object", "null"]})
    event["properties"]["from"] = event["properties"].pop("from_")
    event["required"] = [r.rstrip("_") for r in event["required"]]
    reply = _obj(id=INT, text=STR, origin=STR, delivery_status={"enum": ["pending", "sent", "failed", "manual"]},
                 sent_at=WHEN, by=NULLABLE_STR, url=NULLABLE_STR, last_error=NULLABLE_STR)
    detail_props: Schema = {**mention_props, "events": {"type": "array", "items": event},
                    "responses": {"type": "array", "items": reply},
                    "linked_accounts": {"type": "array", "items": account,
                                        "description": "the author's other accounts, linked as the same person"},
                    "possibly_same": {"type": "array", "items": account,
                                      "description": "accounts on other networks with the author's name, unlinked"}}
    post = _obj(
        required=("id", "network", "text", "author"), closed=False,
        id={"type": ["string", "integer"], "description": "the post's id on its network"},
        network={"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,31}$"},
        text={**TEXT, "maxLength": MAX_TEXT_CHARS}, author={**TEXT, "description": "the author's handle"},
        author_name=NULLABLE_STR,
        author_followers={"type": ["integer", "null"], "minimum": 0, "maximum": MAX_FOLLOWERS},
        posted_at={"type": ["string", "null"], "format": "date-time"}, url=NULLABLE_STR, in_reply_to=NULLABLE_STR,
        language=NULLABLE_STR)
    return {
        "Post": post,
        "Author": author, "Account": account,
        "Mention": _obj(**mention_props),
        "MentionDetail": _obj(**detail_props),
        "Reply": reply, "Event": event,
        "ReplyResult": _obj(response=_obj(id=INT, delivery_status={"enum": ["pending", "sent", "failed", "manual"]}),
                            mention=MENTION),
        "Error": _obj(closed=False, error={**STR, "description": "what was wrong, in a sentence"}),
        **_customer_schemas(account),
    }


def _customer_schemas(account: Schema) -> Schema:
    """The customer calls' bodies (`api_customers`)."""
    linked = {**account, "properties": {**account["properties"], "linked_by": NULLABLE_STR, "linked_at": WHEN},
              "required": [*account["required"], "linked_by", "linked_at"]}
    num, count = {"type": ["number", "null"]}, {"type": ["integer", "null"]}
    record = _obj(id=INT, system=STR, external_id=STR, email=NULLABLE_STR, name=NULLABLE_STR,
                  handles={"type": "object"}, tier=NULLABLE_STR, lifetime_value=num, loyalty_points=count,
                  orders=count, last_order_at=WHEN, attributes={"type": "object"},
                  updated_at={"type": "string", "format": "date-time"})
    mention = _obj(id=INT, network=STR, handle=STR, text=STR, url=NULLABLE_STR,
                   posted_at={"type": "string", "format": "date-time"},
                   status={"enum": [NEW, OPEN, ANSWERED, RESOLVED, SPAM, IRRELEVANT]},
                   sentiment={"enum": [*SENTIMENTS, None]}, intent={"enum": [*INTENTS, None]})
    return {
        "CustomerRecord": record, "CustomerMention": mention,
        "CustomerSummary": _obj(id=INT, name=STR, accounts={"type": "array", "items": account}, records=INT),
        "Customer": _obj(
            id=INT, name=STR, notes=STR, created_at={"type": "string", "format": "date-time"},
            accounts={"type": "array", "items": linked, "description": "linked accounts, with who linked them"},
            records={"type": "array", "items": {"$ref": "#/components/schemas/CustomerRecord"}},
            counts=_obj(mentions=INT, open=INT, replies=INT),
            first_response_median_seconds={"type": ["number", "null"]},
            mentions={"type": "array", "items": {"$ref": "#/components/schemas/CustomerMention"},
                      "description": "the most recent mentions, newest first"}),
    }


def _customer_search() -> Schema:
    return _op(
        "Find customers by name, handle, e-mail or a record's external id, newest first", errors=("400",),
        params=({"name": "q", "in": "query", "schema": STR,
                 "description": "part of a name, handle or e-mail, or a whole external id (empty: all)"},
                {"name": "before", "in": "query", "schema": ROW_ID,
                 "description": "the page below this customer id (`next_before` of the last page)"}),
        ok=("200", "A page of customers", _obj(
            customers={"type": "array", "items": {"$ref": "#/components/schemas/CustomerSummary"}},
            next_before={"type": ["integer", "null"]})))


def _responses() -> Schema:
    def refusal(text: str) -> Schema:
        return {"description": text, "content": {"application/json": {"schema": ERROR_BODY}}}

    return {
        "BadRequest": refusal("The body or a parameter was refused (a missing field, a wrong type, an unknown field, "
                              "a value out of range); `error` says which."),
        "Unauthorized": {**refusal("No token, or an unknown or revoked one."),
                         "headers": {"WWW-Authenticate": {"schema": STR}}},
        "Forbidden": refusal("The token's user (its role) or the token's scope may not do this."),
        "NotFound": refusal("No such mention, queue or reply."),
        "Conflict": refusal("The mention's state does not allow it now (someone else holds it, it is closed, ...)."),
        "TooLarge": refusal("The body is too large."),
        "TooManyRequests": {**refusal("Too many requests with this token; wait and retry."),
                            "headers": {"Retry-After": {"schema": INT, "description": "seconds to wait"}}},
    }


AUTH = """Authenticate every call but this one with `Authorization: Bearer <token>` (`triage token create --user NAME`).

A token acts as its user, with the user's role: agents and leads work items, leads assign, supervisors read and
write notes. A token may also be narrowed when it is created:

* **read-only**: it may only `GET`; anything else is 403.
* **scoped to one source**: it may only push posts into that source (`POST /api/v1/mentions`); anything else is 403.

Pushing posts into an existing source needs a lead's or an admin's token, or a token scoped to that source;
creating a new source with `?source=NAME` needs a lead's or an admin's token.

Refusals answer with a JSON body `{"error": "..."}` and the status that says why; a method a path does not have is
405 with an `Allow` header. Each token may send a bounded number of requests a minute; past it, 429 with
`Retry-After`."""


def document() -> Schema:
    m = "/api/v1/mentions/{id}"
    mention_ok = ("200", "The mention, with its events and replies", MENTION_DETAIL)
    act = ("401", "403", "404", "409")  # a transition: who may, which mention, and whether its state allows it
    with_body = ("400", "413", *act)  # and a body: refused fields, or one past the size limit
    return {
        "openapi": "3.1.0",
        "info": {"title": "triage API", "version": "1", "description": AUTH},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "an API token; see the API description for scopes"}},
            "schemas": _schemas(),
            "responses": _responses(),
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/mentions": {"post": _op(
                "Push posts (stored before the answer, tagged and queued by the workers)",
                description="Each item should be a `Post` (see the schemas) and is judged on its own: one that is "
                            "not is listed in `errors` with its index and why, and the rest are stored. 400 when none "
                            "is valid. Needs a lead's or admin's token, or one scoped to the source; `?source=NEW` "
                            "creates a source and needs a lead's token.",
                body=_body({"oneOf": [POSTS, _obj(closed=False, mentions=POSTS)]},
                           "a JSON array of posts, or an object with a `mentions` array"),
                ok=("202", "What was accepted, and an error per refused item",
                    _obj(accepted=INT, rejected=INT, source=STR,
                         errors={"type": "array", "items": _obj(required=("index", "error"), closed=False,
                                                                index=INT, id=STR, error=STR)})),
                params=({"name": "source", "in": "query", "schema": STR,
                         "description": "the source's name (default: the token's source, else API)"},),
                errors=("400", "403", "404", "413"))},
            "/api/v1/customers": {"get": _customer_search(), "post": _op(
                "Push customer records from another system (CRM, loyalty, shop); a lead's or admin's token",
                description="Each item is a record judged on its own: `external_id` (required), `system` (or "
                            "`?system=`), optional `email`, `name`, `handles` ({network: handle}), `tier`, "
                            "`lifetime_value`, `loyalty_points`, `orders`, `last_order_at` (ISO 8601), `attributes` "
                            "(an object of scalars). One that is not valid is listed in `errors` with its index and "
                            "why; the rest are upserted on (system, external_id) and linked to accounts with the same "
                            "handle. 400 when none is valid.",
                body=_body({"oneOf": [CUSTOMER_RECORDS, _obj(closed=False, records=CUSTOMER_RECORDS)]},
                           "a JSON array of customer records, or an object with a `records` array"),
                ok=("202", "What was accepted, and an error per refused item",
                    _obj(closed=False, accepted=INT, rejected=INT, added=INT, updated=INT, linked=INT, refused=INT,
                         suggested=INT, errors={"type": "array", "items": _obj(required=("index", "error"),
                                                                               closed=False, index=INT, error=STR)})),
                params=({"name": "system", "in": "query", "schema": STR,
                         "description": "the system for records that name none"},),
                errors=("400", "403", "413"))},
            "/api/v1/queues": {"get": _op("Queues with their open counts", params=(), errors=(), ok=(
                "200", "The queues", {"type": "array", "items": _obj(
                    name=STR, title=STR, description=NULLABLE_STR, open=INT)}))},
            "/api/v1/queues/{name}/mentions": {"get": _op(
                "A queue's open mentions in working order", params=(QUEUE_NAME, {
                    "name": "limit", "in": "query", "description": f"how many (default {DEFAULT_LIMIT})",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}}),
                errors=("400", "403", "404"),
                ok=("200", "Mentions, highest priority first", {"type": "array", "items": MENTION}))},
            "/api/v1/queues/{name}/claim-next": {"post": _op(
                "Claim the top unclaimed mention of a queue", params=(QUEUE_NAME,), errors=act,
                ok=("200", "The claimed mention", MENTION_DETAIL),
                extra={"204": {"description": "Nothing left to claim"}})},
            m: {"get": _op("A mention with its events, replies and the author's accounts", errors=("403", "404"),
                           ok=mention_ok)},
            m + "/claim": {"post": _op("Claim (409 when someone else holds it)", errors=act, ok=mention_ok)},
            m + "/release": {"post": _op("Release a claim (leads: anyone's)", errors=act, ok=mention_ok)},
            m + "/reply": {"post": _op(
                "Reply; delivered by a job with retries", errors=with_body,
                body=_body(_obj(required=("text",), text={**TEXT, "description": "at most the network's limit "
                                                          "(280 on x, 5000 where unknown)"},
                                saved_reply_id={**ROW_ID, "type": ["integer", "null"],
                                                "description": "the saved reply it was written from"}),
                           "the reply"),
                ok=("202", "The reply, pending delivery", {"$ref": "#/components/schemas/ReplyResult"}))},
            m + "/responses/{response_id}/retry": {"post": _op(
                "Send a failed reply again", errors=act,
                params=(MENTION_ID, {"name": "response_id", "in": "path", "required": True, "schema": ROW_ID,
                                     "description": "the reply's id (the mention's `responses`)"}),
                ok=("202", "The reply, pending delivery again", {"$ref": "#/components/schemas/ReplyResult"}))},
            m + "/escalate": {"post": _op(
                "Escalate to 'lead', 'supervisor', a username or 'queue:<name>'", errors=with_body,
                body=_body(_obj(to=TEXT, reason=TEXT), "whom to, and why"), ok=mention_ok)},
            m + "/assign": {"post": _op("Assign an owner (leads)", errors=with_body,
                                        body=_body(_obj(user=TEXT), "the username of an agent or lead"),
                                        ok=mention_ok)},
            m + "/resolve": {"post": _op("Resolve", errors=act, ok=mention_ok)},
            m + "/spam": {"post": _op("Mark as spam (closes it)", errors=act, ok=mention_ok)},
            m + "/irrelevant": {"post": _op("Mark as not relevant (closes it)", errors=act, ok=mention_ok)},
            m + "/reopen": {"post": _op("Reopen a closed mention", errors=act, ok=mention_ok)},
            m + "/relabel": {"post": _op(
                "Correct the tags; the classifier learns from the correction, priority and queue follow",
                errors=with_body, ok=mention_ok,
                body=_body({**_obj(required=(), sentiment={"enum": [*SENTIMENTS, None]},
                                   intent={"enum": [*INTENTS, None]}),
                            "anyOf": [{"required": ["sentiment"], "properties": {"sentiment": {"enum": SENTIMENTS}}},
                                      {"required": ["intent"], "properties": {"intent": {"enum": INTENTS}}}]},
                           "a sentiment, an intent, or both"))},
            m + "/link": {"post": _op(
                "Link the author's account to another as the same person (see `possibly_same`)", errors=with_body,
                body=_body(_obj(author_id={**ROW_ID, "description": "the other account's id"}), "the other account"),
                ok=mention_ok)},
            "/api/v1/customers/{id}": {"get": _op(
                "A customer: accounts, what other systems know, counts, recent mentions", errors=("404",),
                params=({"name": "id", "in": "path", "required": True, "schema": ROW_ID,
                         "description": "the customer's id"},),
                ok=("200", "The customer", {"$ref": "#/components/schemas/Customer"}))},
            m + "/notes": {"post": _op(
                "Add an internal note (anyone on the team)", errors=("400", "403", "404", "413"),
                body=_body(_obj(text={**TEXT, "maxLength": NOTE_LIMIT}), "the note"),
                ok=("201", "The mention", MENTION_DETAIL))},
        },
    }
