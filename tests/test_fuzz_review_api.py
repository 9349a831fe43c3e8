"""The review server's HTTP API fuzzed from its own OpenAPI schema (schemathesis): no request gives a 500, every
answer's status is one the schema documents for that route (each refusal included: 400 for another Host, 403 for
another Origin or token, 404 for an id not in the sample, 422 for a body that is not a verdict), the status is the
one the request's flaw calls for, and a refused request writes nothing. Requests come with and without the page's
Host, Origin and token (and with odd ones), so that both the refusals and the accepted answers are reached.
Deterministic (derandomized, no example database), bounded in examples and time.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, status_code_conformance

from builder.review.folder import RowFolder
from builder.review.sample import Sample
from builder.review.server import LOOPBACK, PAGE_FILES, TOKEN_HEADER, ReviewSession, create_app, own_origins
from builder.review.verdicts import ANSWERS, read_verdicts

ORIGIN = "http://127.0.0.1:7870"
ALLOWED = own_origins(LOOPBACK, 7870)  # as `serve` allows them: the page on 127.0.0.1, localhost or [::1]
ROWS = [{"id": f"sample-{name}-color-p000-s1", "source_id": f"sample-{name}", "class_name": "tabby",
         "definition": "a cat", "wnid": "n02123045", "prompt": "a drawing of a tabby", "source_prompt": "a tabby",
         "domain": "color", "severity": 1} for name in ("cat", "dog", "cup")]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)

API = settings(max_examples=80, derandomize=True, database=None, deadline=timedelta(seconds=3),
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                      HealthCheck.filter_too_much])

# what a request carries besides what the schema generates: the page's own, none, or a stranger's
latin1 = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=30)
hosts = st.sampled_from(["127.0.0.1:7870", "127.0.0.1:7870", "localhost:7870", "rebound.example", "[::1]:7870"])
origins = st.one_of(st.just(ORIGIN), st.just(ORIGIN), st.none(), st.sampled_from(
    ["http://localhost:7870", "http://evil.example", "null", "http://127.0.0.1:7871", ORIGIN + "/"]), latin1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A review session over three edits (no build needed: the app serves what the session holds), its app, and
    the app's schema as schemathesis reads it."""
    root = tmp_path_factory.mktemp("review") / "build"
    root.mkdir()
    ids = tuple(row["id"] for row in ROWS)
    images = {key: PNG for row in ROWS for key in (row["id"], row["source_id"])}
    session = ReviewSession(RowFolder(root, "build", ()), "carol", Sample(0, len(ids), ids, {}), ROWS, images, {})
    app = create_app(session, ALLOWED)
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    return {"root": root, "session": session, "schema": schema}


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under the reviewed folder, with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def expected_status(path: str, host: str, headers: dict[str, str], body: Any, path_parameters: dict,
                    session: ReviewSession) -> int | None:
    """The status the request's first flaw calls for, in the order the server checks (Host, route, body, Origin,
    token, row id, answer), or None where it is not predicted (a body of another type than the schema's)."""
    if host.rsplit(":", 1)[0].strip("[]") not in ("127.0.0.1", "localhost", "::1"):
        return 400
    if path == "/api/verdict":
        if not (isinstance(body, dict) and isinstance(body.get("id"), str) and isinstance(body.get("answer"), str)):
            return None  # FastAPI's validation (422) or, for some non-JSON bodies, its own reading of them
        if headers.get("Origin") not in ALLOWED or headers.get(TOKEN_HEADER) != session.token:
            return 403
        return 404 if body["id"] not in {row["id"] for row in session.rows} else \
            422 if body["answer"] not in ANSWERS else 200
    if path == "/static/{name}":
        return 200 if path_parameters.get("name") in PAGE_FILES else 404
    if path == "/image/{row_id}":
        return 200 if path_parameters.get("row_id") in session.images else 404
    return 200


@st.composite
def sender(draw: st.DrawFn, token: str) -> tuple[str, dict[str, str]]:
    """(Host, headers) of a request: the page's own, the page's but for one of them, or a stranger's."""
    scenario = draw(st.sampled_from(["page", "page", "another host", "another origin", "another token", "stranger"]),
                    label="sender")
    host = draw(st.sampled_from(["127.0.0.1:7870", "localhost:7870", "[::1]:7870"]), label="host")
    origin: str | None = draw(st.sampled_from(sorted(ALLOWED)), label="origin")
    sent: str | None = token
    if scenario == "another host":
        host = draw(st.sampled_from(["rebound.example", "127.0.0.1.evil.example:7870", "[::2]:7870"]), label="host")
    elif scenario == "another origin":
        origin = draw(origins.filter(lambda o: o not in ALLOWED), label="origin")
    elif scenario == "another token":
        sent = draw(st.none() | latin1.filter(lambda t: t != token), label="token")
    elif scenario == "stranger":
        host, origin = draw(hosts, label="host"), draw(origins, label="origin")
        sent = draw(st.one_of(st.just(token), st.none(), latin1), label="token")
    headers = {"Origin": origin, TOKEN_HEADER: sent}
    return host, {key: value for key, value in headers.items() if value is not None}


# (generation mode, route, the statuses the fuzzing must reach on it): positive cases on every route, negative
# ones (a body that is not a verdict) on the one route that takes a body
ROUTES = [(GenerationMode.POSITIVE, "GET /", {200, 400}), (GenerationMode.POSITIVE, "GET /api/rows", {200, 400}),
          (GenerationMode.POSITIVE, "GET /image/{row_id}", {200, 400, 404}),
          (GenerationMode.POSITIVE, "GET /static/{name}", {200, 400, 404}),
          (GenerationMode.POSITIVE, "POST /api/verdict", {200, 400, 403, 404, 422}),
          (GenerationMode.NEGATIVE, "POST /api/verdict", {400, 422})]


@pytest.mark.parametrize("mode, route, reached", ROUTES, ids=[f"{m.value} {r}" for m, r, _ in ROUTES])
def test_the_api_never_fails_and_every_refusal_is_documented_and_writes_nothing(server, mode, route, reached):
    session, root = server["session"], server["root"]
    method, path = route.split(" ")
    strategy = server["schema"][path][method].as_strategy(generation_mode=mode)
    seen: Counter[int] = Counter()

    @API
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(strategy, label="case")
        if path == "/api/verdict" and isinstance(case.body, dict):  # a real row id (and answer), or as generated
            change = data.draw(st.sampled_from(["generated", "row and answer", "row, another answer"]), label="body")
            if change != "generated":
                case.body = {**case.body, "id": data.draw(st.sampled_from([r["id"] for r in ROWS]), label="id"),
                             "answer": data.draw(st.sampled_from(list(ANSWERS)) if change == "row and answer" else
                                                 st.sampled_from(["yes", "", "Same"]) | st.text(max_size=5),
                                                 label="answer")}
        if path == "/image/{row_id}" and data.draw(st.booleans(), label="known image"):
            case.path_parameters = {"row_id": data.draw(st.sampled_from(sorted(session.images)), label="row")}
        if path == "/static/{name}" and data.draw(st.booleans(), label="known file"):
            case.path_parameters = {"name": data.draw(st.sampled_from([*PAGE_FILES, "../server.py"]), label="name")}
        host, headers = data.draw(sender(session.token))
        before, answers = snapshot(root), dict(session.answers)
        response = case.call(base_url=f"http://{host}", headers=headers)
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance], headers=headers)
        status = response.status_code
        seen[status] += 1
        expected = expected_status(path, host, headers, case.body, case.path_parameters or {}, session)
        if expected is None:
            # FastAPI: 400 for a body that is not JSON, 422 for JSON that is not a verdict; or a body that
            # reads as a verdict after all
            assert status in (200, 400, 403, 404, 422), (status, case.body, case.media_type, response.text)
        else:
            assert status == expected, (case.method, path, case.body, host, headers, response.text)
        if status == 200 and path == "/api/verdict":
            saved = read_verdicts(session.verdicts)[-1]
            assert (saved["id"], saved["answer"]) == (case.body["id"], case.body["answer"])
            assert response.json()["saved"] == case.body["id"] and session.answers[case.body["id"]] == saved["answer"]
        else:
            assert snapshot(root) == before and session.answers == answers, "a refused request wrote something"

    check()
    assert reached <= set(seen), seen  # the fuzzing reached the answers and each refusal of the route


def test_the_schema_documents_each_refusal(server):
    """The statuses a route can refuse with are in the schema the fuzzing reads (FastAPI adds 422 for routes with
    parameters; the others are declared with the routes)."""
    paths = server["schema"].raw_schema["paths"]
    documented = {(method, path): set(op["responses"]) for path, ops in paths.items() for method, op in ops.items()}
    assert documented == {("get", "/"): {"200", "400"}, ("get", "/api/rows"): {"200", "400"},
                          ("get", "/static/{name}"): {"200", "400", "404", "422"},
                          ("get", "/image/{row_id}"): {"200", "400", "404", "422"},
                          ("post", "/api/verdict"): {"200", "400", "403", "404", "422"}}


def test_a_token_beyond_ascii_is_refused_not_a_server_error(server):
    """The regression the fuzzing found: secrets.compare_digest raised TypeError on a token header holding a
    Latin-1 letter (str beyond ASCII), which the server answered with 500."""
    from fastapi.testclient import TestClient

    session = server["session"]
    client = TestClient(create_app(session, ALLOWED), base_url=ORIGIN, raise_server_exceptions=False)
    before = snapshot(server["root"])
    response = client.post("/api/verdict", json={"id": ROWS[0]["id"], "answer": "same"},
                           headers={"Origin": ORIGIN, TOKEN_HEADER: b"\xe9t\xe9"})
    assert response.status_code == 403 and "token does not match" in json.loads(response.text)["detail"]
    assert snapshot(server["root"]) == before
