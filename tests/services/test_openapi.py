"""The OpenAPI document is the contract: every error is declared as problem+json, every undeclared
method is a 405, and the schemas say what is validated. The regression cases come from schemathesis
runs (``test_openapi_fuzz.py``); each one failed before the fix named in its comment."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from lxml import etree

from services.body_limit import MAX_BODY_BYTES
from services.errors import PROBLEM_JSON
from tests.services.world import BOTH_KEY, DECIDE_KEY

KEY = {"X-API-Key": BOTH_KEY}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@pytest.fixture(scope="module")
def document(world_client: TestClient) -> dict[str, Any]:
    response = world_client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()
            if method in METHODS]  # fmt: skip


def assert_problem(response: Any, status: int, document: dict[str, Any], slug: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    jsonschema.validate(body, document["components"]["schemas"]["Problem"])
    assert body["status"] == status and body["detail"]
    if slug is not None:
        assert body["type"] == f"https://marquee.dev/problems/{slug}", body
    return body  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------ the document


def test_every_operation_declares_its_errors_as_problems(document: dict[str, Any]) -> None:
    ops = operations(document)
    assert len(ops) >= 23
    for path, method, op in ops:
        responses = op["responses"]
        errors = {int(s): r for s, r in responses.items() if int(s) >= 400}
        assert 500 in errors, (path, method)
        if op.get("parameters") or op.get("requestBody"):
            assert 422 in errors, (path, method)
        if op.get("requestBody"):
            assert {400, 413} <= set(errors), (path, method)
        if op.get("security"):
            assert {401, 403, 429} <= set(errors), (path, method)
        for status, entry in errors.items():
            content = entry.get("content", {})
            if path in ("/v1/ads/openrtb",) and status == 400:
                assert "application/json" in content  # OpenRTB's own malformed-request answer
                continue
            assert content.get(PROBLEM_JSON) == {"schema": {"$ref": "#/components/schemas/Problem"}}, (path, method, status)
    schemas = document["components"]["schemas"]
    assert "Problem" in schemas and "HTTPValidationError" not in schemas


def test_constraints_reach_the_document_as_json_schema(document: dict[str, Any]) -> None:
    """Regression: pydantic wrote ``ge``/``le`` (not JSON Schema) for optional constrained ints with a
    validator, so the document did not say year_min >= 1800 or tmax >= 1 although both were validated."""
    text = json.dumps(document)
    assert '"ge":' not in text and '"le":' not in text
    year = document["components"]["schemas"]["SearchRequest"]["properties"]["year_min"]["anyOf"][0]
    assert year == {"type": "integer", "minimum": 1800, "maximum": 2200}


def test_key_operations_declare_security_and_public_ones_do_not(document: dict[str, Any]) -> None:
    secured = {(p, m) for p, m, op in operations(document) if op.get("security")}
    assert ("/v1/ads/openrtb", "post") in secured and ("/v1/ads/{collection}", "post") in secured
    assert ("/v1/search", "get") not in secured and ("/v1/ads/track/{event}", "get") not in secured


# ------------------------------------------------------------------------------------------ 405


def test_undeclared_methods_are_405_with_the_declared_ones_in_allow(world_client: TestClient,
                                                                     document: dict[str, Any]) -> None:  # fmt: skip
    examples = {"{profile_id}": "movielens:1", "{title_id}": "tmdb:1001", "{event}": "impression",
                "{collection}": "advertisers", "{entity_id}": "adv0"}  # fmt: skip
    for path, item in document["paths"].items():
        url = path
        for name, value in examples.items():
            url = url.replace(name, value)
        declared = {m.upper() for m in item if m in METHODS}
        expected = declared | ({"HEAD"} if "GET" in declared else set())
        for method in ("TRACE", "DELETE", "OPTIONS"):
            if method in declared:
                continue
            response = world_client.request(method, url, headers=KEY)
            assert_problem(response, 405, document, "method-not-allowed")
            assert set(response.headers["allow"].split(", ")) == expected, (method, url)


def test_a_literal_path_is_not_shadowed_by_a_template(world_client: TestClient, document: dict[str, Any]) -> None:
    """Regression: GET /v1/ads/openrtb fell through to GET /v1/ads/{collection} (422), and PATCH
    /v1/ads/track/impression to PATCH /v1/ads/{collection}/{entity_id}."""
    response = world_client.get("/v1/ads/openrtb", headers=KEY)
    assert_problem(response, 405, document)
    assert response.headers["allow"] == "POST"
    response = world_client.patch("/v1/ads/track/impression", params={"t": "00000000"}, headers=KEY)
    assert_problem(response, 405, document)
    assert response.headers["allow"] == "GET, HEAD"


# ------------------------------------------------------------------------------------------ regressions


def test_documented_types_are_the_validated_types(world_client: TestClient, document: dict[str, Any]) -> None:
    """Regression (ST201): pydantic's lax mode took ``false`` for an integer and ``"5"`` for a number."""
    for body in ({"q": "dog", "offset": False}, {"q": "dog", "limit": "5"}):
        assert_problem(world_client.post("/v1/search", json=body), 422, document, "validation")
    event = {"event_id": "e", "profile_id": "movielens:1", "title_id": "tmdb:1001", "timestamp": 1.7e9,
             "kind": "rating", "rating": False}  # fmt: skip
    assert_problem(world_client.post("/v1/events", json={"events": [event]}), 422, document, "validation")
    bid = {"id": "r", "at": False, "imp": [{"id": "1", "video": {"mimes": ["video/mp4"]}}]}
    response = world_client.post("/v1/ads/openrtb", json=bid, headers=KEY)
    assert response.status_code == 400 and response.json()["nbr"] == 2


def test_an_integral_float_is_an_integer_as_json_schema_says(world_client: TestClient) -> None:
    """Regression (ST202): strict mode refused ``30.0`` for an integer field that JSON Schema accepts."""
    bid = {"id": "r", "tmax": 2000.0,
           "imp": [{"id": "1", "video": {"mimes": ["video/mp4"], "minduration": 5.0, "maxduration": 30.0}}]}  # fmt: skip
    assert world_client.post("/v1/ads/openrtb", json=bid, headers=KEY).status_code in (200, 204)
    assert world_client.post("/v1/search", json={"q": "dog", "limit": 3.0}).status_code == 200


def test_schema_valid_requests_are_not_errors(world_client: TestClient, document: dict[str, Any]) -> None:
    """Regressions (ST202): each value valid on its own, together selecting nothing: an empty answer."""
    response = world_client.get("/v1/search", params={"q": "dog", "year_min": 2199, "year_max": 1800})
    assert response.status_code == 200 and response.json()["total"] == 0
    tag = world_client.get("/v1/ads/vast", params={"min_duration": "300", "max_duration": "1"}, headers=KEY)
    assert tag.status_code == 200 and tag.headers["content-type"] == "application/xml"
    assert etree.fromstring(tag.content).findall("{http://www.iab.com/VAST}Ad") == []
    # an unexpanded macro is absent, as the documented pattern says
    assert world_client.get("/v1/ads/vast", params={"pod_duration": "[PODDURATION]"}, headers=KEY).status_code == 200
    # a forged tracking token is a refused credential, not a malformed request
    assert_problem(world_client.get("/v1/ads/track/click", params={"t": "00000000"}), 403, document,
                   "tracking-token-invalid")  # fmt: skip
    assert_problem(world_client.get("/v1/profiles/movielens:1/page", params={"liked_titles": "AAA"}), 404, document,
                   "unknown-title")  # fmt: skip


def test_what_the_schema_forbids_is_refused(world_client: TestClient, document: dict[str, Any]) -> None:
    """Regressions (ST201): values outside the documented ranges were accepted or crashed."""
    assert_problem(world_client.get("/v1/ads/vast", params={"floor": "1000000001"}, headers=KEY), 400, document)
    assert_problem(world_client.get("/v1/profiles/x/page", params={"seed": -1}), 422, document, "validation")
    assert_problem(world_client.get("/v1/profiles/x/page", params={"liked_genres": "spaghetti"}), 422, document)
    assert_problem(world_client.get("/v1/search", params={"q": " \x1c "}), 422, document, "validation")
    assert_problem(world_client.get("/v1/titles/tmdb:1001/similar", params={"limit": 101}), 422, document)
    # an unfillable tag was answered before its other parameters were checked (coppa=-6842 accepted)
    params = {"pod_duration": "1", "min_duration": "15", "coppa": "-6842"}
    assert_problem(world_client.get("/v1/ads/vast", params=params, headers=KEY), 400, document, "invalid-tag")


def test_a_repeated_single_value_parameter_is_refused(world_client: TestClient, document: dict[str, Any]) -> None:
    """Regression (ST201): ``ifa=a&ifa=b`` was accepted (the last one won) though the schema says one value."""
    response = world_client.get("/v1/ads/vast?ifa=a&ifa=b", headers=KEY)
    assert_problem(response, 422, document, "validation")
    assert world_client.get("/v1/search?q=dog&genre=drama&genre=comedy").status_code == 200  # an array: fine


def test_a_huge_pod_is_malformed_not_a_server_error(world_client: TestClient) -> None:
    """Regression (ST101): maxseq 7.7e24 made a list of that many slots (MemoryError, 500)."""
    video = {"mimes": ["video/mp4"], "podid": "p", "poddur": 82735, "maxseq": 7698873520847722685399040}
    for path in ("/v1/ads/openrtb", "/v1/ads/openrtb/explain"):
        response = world_client.post(path, json={"id": "r", "imp": [{"id": "1", "video": video}]}, headers=KEY)
        assert response.status_code == 400, response.text
    fine = {"mimes": ["video/mp4"], "podid": "p", "poddur": 3600, "maxseq": 30}
    assert world_client.post("/v1/ads/openrtb", json={"id": "r", "imp": [{"id": "1", "video": fine}]},
                             headers=KEY).status_code in (200, 204)  # fmt: skip


# ------------------------------------------------------------------------------------------ bodies


def test_body_limits_and_strict_json(world_client: TestClient, document: dict[str, Any]) -> None:
    big = b'{"q": "' + b"a" * MAX_BODY_BYTES + b'"}'
    body = assert_problem(world_client.post("/v1/search", content=big, headers={"content-type": "application/json"}),
                          413, document, "body-too-large")  # fmt: skip
    assert body["limit_bytes"] == MAX_BODY_BYTES
    for raw in (b'{"q": "dog", "q": "cat"}', b'{"q": "dog", "limit": NaN}', b'{"q": "dog", "limit": 1e999}',
                b'{"q": "dog"', b'{"q": "\xff"}', b"[" * 100 + b"]" * 100):  # fmt: skip
        response = world_client.post("/v1/search", content=raw, headers={"content-type": "application/json"})
        assert_problem(response, 400, document, "malformed-json")
    # OpenRTB answers a malformed body in its own format
    response = world_client.post("/v1/ads/openrtb", content=b'{"id": "a", "id": "b"}', headers=KEY)
    assert response.status_code == 400 and response.json()["nbr"] == 2
    assert "duplicate key" in response.json()["ext"]["errors"][0]


def test_a_decide_key_is_enough_for_decisions_only(world_client: TestClient, document: dict[str, Any]) -> None:
    decide = {"X-API-Key": DECIDE_KEY}
    bid = {"id": "r", "imp": [{"id": "1", "video": {"mimes": ["video/mp4"], "maxduration": 30}}]}
    assert world_client.post("/v1/ads/openrtb", json=bid, headers=decide).status_code in (200, 204)
    assert_problem(world_client.get("/v1/ads/status", headers=decide), 403, document, "api-key-scope")


def test_every_understood_kind_is_declared(world_client: TestClient, document: dict[str, Any]) -> None:
    """Schemathesis (seed 20261206): ``q=tom hanks`` answered ``understood[].kind = "person"``, which the
    schema's enum did not list (ST108). The enum now comes from ``search.understand.Kind``."""
    from typing import get_args

    from search.understand import Kind

    enum = document["components"]["schemas"]["UnderstoodModel"]["properties"]["kind"]["enum"]
    assert set(enum) == set(get_args(Kind))
    response = world_client.get("/v1/search", params={"q": "tom hanks", "profile_id": "demo:kids"}, headers=KEY)
    assert response.status_code == 200, response.text
    kinds = {u["kind"] for u in response.json()["understood"]}
    assert "person" in kinds and kinds <= set(enum)
