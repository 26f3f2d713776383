"""The API keeps the promises of its OpenAPI document, under generated requests.

schemathesis reads /api/v1/openapi.json from a live server (werkzeug, in a thread, on a free port) and sends each
operation a few generated requests, valid and invalid, with a real lead's token. Every answer must be documented,
match its schema and never be a 5xx; data the document calls invalid must be refused; no token must be a 401.
(405 with `Allow` is tested in test_api_actions.py.) Bounded to a few examples per operation so it fits in CI; for a
longer run set TRIAGE_FUZZ_EXAMPLES (e.g. 300).
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
from collections import Counter

import pytest

# Hypothesis keeps a cache (and, unless told not to, an example database) in ./.hypothesis: keep the work tree clean.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "triage-hypothesis"))
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency: pip install -e '.[dev]'")

from hypothesis import HealthCheck, given, settings  # noqa: E402  (after the skip: it comes with schemathesis)
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.serving import make_server  # noqa: E402

from tests.factories import queued_mentions  # noqa: E402
from triage.db import MAX_ROW_ID  # noqa: E402
from triage.models import Response, SavedReply  # noqa: E402
from triage.people.accounts import create_token  # noqa: E402

EXAMPLES = int(os.environ.get("TRIAGE_FUZZ_EXAMPLES", "6"))
TALLY: Counter = Counter()  # answers by status class, over the whole module: the figures a fuzz run is quoted by
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection, ignored_auth]


@pytest.fixture(scope="module", autouse=True)
def _say_how_many(request):
    """Print the run's figures under the results (requests sent, 5xx answered), whatever -s says."""
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None and TALLY:
        classes = ", ".join(f"{k}xx: {v:,}" for k, v in sorted(TALLY.items()))
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nAPI fuzz: {sum(TALLY.values()):,} requests, {TALLY.get(5, 0):,} answered 5xx "
                                f"({classes})")


@pytest.fixture
def seeded(db, make_user) -> dict:
    """Real rows for the generated requests to find now and then: mentions, a failed reply, accounts, a saved reply."""
    make_user("lead1", "lead")
    make_user("agent1", "agent")
    mentions = queued_mentions(db, "@northwind my bag never arrived", "@northwind how do I change my seat?",
                               "@northwind thanks, great crew today!", "@northwind refund still missing, awful")
    failed = Response(mention_id=mentions[0].id, text="Sorry!", origin="app", network="x",
                      created_at=mentions[0].ingested_at, delivery_status="failed", last_error="503")
    saved = SavedReply(title="Sorry", body="Sorry {author}!")
    db.add_all([failed, saved])
    token = create_token(db, "lead1")
    db.commit()
    return {"token": token, "mention_ids": [m.id for m in mentions], "response_id": failed.id,
            "author_ids": [m.author_id for m in mentions], "saved_reply_id": saved.id}


@pytest.fixture
def live_api(settings, db, seeded):
    """The app behind a real HTTP server, and the schema it serves, set up to call it with the lead's token."""
    from triage.web import create_app

    # The fuzz sends hundreds of requests a minute with one token; the limit itself is tested elsewhere.
    app = create_app(dataclasses.replace(settings, api_limit="1000000 per minute"))

    @app.after_request
    def _tally(response):
        TALLY[response.status_code // 100] += 1
        return response

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
        schema.config.update(base_url=base, headers={"Authorization": f"Bearer {seeded['token']}"})
        # A refusal may also be 413: more posts than one request may carry.
        rejection = schema.config.checks.negative_data_rejection
        rejection.expected_statuses = [*rejection.expected_statuses, "413"]
        yield schema
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def _operations() -> list[tuple[str, str]]:
    from triage.web.openapi import document

    return [(path, method.upper()) for path, ops in document()["paths"].items() for method in ops]


# schemathesis's own pytest integration (`schema.parametrize`) writes `node._nodeid`, which pytest 9.2 no longer
# has; so each operation is a pytest case here, and hypothesis drives schemathesis's strategies directly.
@pytest.mark.parametrize("path,method", _operations(), ids=[f"{m} {p}" for p, m in _operations()])
def test_the_api_keeps_its_documented_promises(live_api, seeded, path, method):
    operation = live_api[path][method]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=cases, data=st.data())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def call(case, data):
        _aim_at_seeded_rows(case, data, seeded)
        case.call_and_validate(checks=CHECKS)

    call()


def _aim_at_seeded_rows(case, data, seeded: dict) -> None:
    """Random ids rarely name a row: half the time, aim at the seeded ones so the 2xx answers are checked too.

    Only a valid id is swapped for another valid one, so a case generated to be invalid stays invalid.
    """
    def aim(values: dict, name: str, choices: list[int]) -> None:
        if _is_row_id(values.get(name)) and data.draw(st.booleans(), label=f"seeded {name}"):
            values[name] = data.draw(st.sampled_from(choices), label=name)

    path = case.path_parameters or {}
    aim(path, "id", seeded["mention_ids"])
    aim(path, "response_id", [seeded["response_id"]])
    if isinstance(case.body, dict):
        aim(case.body, "author_id", seeded["author_ids"])
        aim(case.body, "saved_reply_id", [seeded["saved_reply_id"]])


def _is_row_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ROW_ID
