"""Property fuzz of the bodies of ``POST /v1/events`` and ``POST /v1/ads/openrtb``.

Random JSON, event- and bid-shaped documents with one field replaced by anything, wrong types, huge
arrays, deep nesting, NaN/Infinity, duplicate keys and gigantic strings must get a clear client
answer (400, 413 or 422; 200/204 when the document happens to be valid), never a 500, and must not
lose or change anything already stored: the events stored before the fuzz are still there with the
same fields, the ad inventory and the delivery records are unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.body_limit import MAX_BODY_BYTES, MAX_JSON_DEPTH
from tests.services.world import BOTH_KEY

KEY = {"X-API-Key": BOTH_KEY, "content-type": "application/json"}
JSON = {"content-type": "application/json"}
EVENT_STATUSES = {200, 400, 413, 422}
BID_STATUSES = {200, 204, 400, 413}
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])  # fmt: skip

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=6)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=6), max_leaves=40)  # fmt: skip


def valid_event(i: int = 0) -> dict[str, Any]:
    return {"event_id": f"fuzz-{i}", "profile_id": "movielens:1", "title_id": "tmdb:1001", "timestamp": 1.7e9,
            "kind": "play"}  # fmt: skip


def valid_bid() -> dict[str, Any]:
    return {"id": "fuzz", "tmax": 2000, "imp": [{"id": "1", "video": {"mimes": ["video/mp4"], "maxduration": 30}}],
            "device": {"devicetype": 3}, "user": {"id": "viewer-1"}}  # fmt: skip


def mutate(doc: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    target = out
    for key in path[:-1]:
        target = target[key] if isinstance(target, dict) else target[int(key)]
    if isinstance(target, dict):
        target[path[-1]] = value
    else:
        target[int(path[-1])] = value
    return out


EVENT_PATHS = [["events"], ["events", "0"], *[["events", "0", f] for f in valid_event()],
               ["events", "0", "position_s"], ["events", "0", "rating"]]  # fmt: skip
BID_PATHS = [["id"], ["imp"], ["imp", "0"], ["imp", "0", "id"], ["imp", "0", "video"], ["imp", "0", "video", "mimes"],
             ["imp", "0", "video", "maxduration"], ["tmax"], ["device"], ["device", "devicetype"], ["user"],
             ["regs"], ["site"], ["app"]]  # fmt: skip


def raw_attacks() -> list[bytes]:
    """Hand-made bodies no JSON generator produces: non-standard constants, duplicates, depth, size."""
    event = json.dumps({"events": [valid_event(99)]})
    return [
        event.replace('"timestamp": 1700000000.0', '"timestamp": NaN').encode(),
        event.replace('"timestamp": 1700000000.0', '"timestamp": Infinity').encode(),
        event.replace('"timestamp": 1700000000.0', '"timestamp": -Infinity').encode(),
        event.replace('"timestamp": 1700000000.0', '"timestamp": 1e999').encode(),
        event.replace('"kind": "play"', '"kind": "play", "kind": "rating"').encode(),
        b'{"events": [], "events": [' + json.dumps(valid_event(98)).encode() + b"]}",
        b'{"events": ' + b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1) + b"}",
        b"[" * 200_000 + b"]" * 200_000,
        b'{"events": [' + b",".join([json.dumps(valid_event(i)).encode() for i in range(1001)]) + b"]}",
        b'{"events": [' + b"0," * (MAX_BODY_BYTES // 2) + b"0]}",
        json.dumps({"events": [valid_event(97) | {"event_id": "x" * (MAX_BODY_BYTES - 200)}]}).encode(),
        json.dumps({"events": [valid_event(96) | {"title_id": "t" * (MAX_BODY_BYTES + 10)}]}).encode(),
        b'{"events": [{"event_id": "\xff\xfe", "profile_id": "p"}]}',
        b'{"events": [' + b"1" * 5000 + b"]}",
        b"",
        b"null",
        b'"just a string"',
    ]


def snapshot(client: TestClient) -> dict[str, Any]:
    resources = client.app.state.resources  # type: ignore[attr-defined]
    events = resources.peek("event_store").events_frame()
    ads = resources.peek("ads").store
    return {"events": events.sort_values("event_id").reset_index(drop=True), "inventory": ads.inventory_docs(),
            "delivery": {li: ads.delivery_report(li) for li in ("li0", "li1", "litoys")}}  # fmt: skip


@pytest.fixture(scope="module")
def before(world_client: TestClient) -> dict[str, Any]:
    """What is stored before the fuzz: the catalog's history plus a batch posted through the API."""
    batch = {"events": [valid_event(i) | {"event_id": f"before-{i}"} for i in range(20)]}
    assert world_client.post("/v1/events", json=batch).json()["stored"] == 20
    return snapshot(world_client)


def assert_nothing_lost_or_changed(client: TestClient, before: dict[str, Any]) -> None:
    after = snapshot(client)
    old = before["events"]
    kept = after["events"][after["events"]["event_id"].isin(old["event_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept.drop(columns=["seq"], errors="ignore"), old.drop(columns=["seq"], errors="ignore"))
    assert after["inventory"] == before["inventory"]
    assert after["delivery"] == before["delivery"]


def post(client: TestClient, path: str, body: bytes, headers: dict[str, str]) -> int:
    response = client.post(path, content=body, headers=headers)
    assert response.status_code != 500, response.text[:500]
    if response.status_code >= 400 and path == "/v1/events":
        assert response.headers["content-type"] == "application/problem+json"
    return response.status_code


@FUZZ
@given(value=json_values)
def test_random_json_bodies(world_client: TestClient, before: dict[str, Any], value: Any) -> None:
    body = json.dumps(value).encode()
    assert post(world_client, "/v1/events", body, JSON) in EVENT_STATUSES
    assert post(world_client, "/v1/ads/openrtb", body, KEY) in BID_STATUSES


@FUZZ
@given(where=st.sampled_from(EVENT_PATHS), value=json_values)
def test_event_batches_with_one_field_replaced(world_client: TestClient, before: dict[str, Any], where: list[str],
                                              value: Any) -> None:  # fmt: skip
    doc = mutate({"events": [valid_event()]}, where, value)
    if isinstance(doc.get("events"), list) and doc["events"] and isinstance(doc["events"][0], dict):
        doc["events"][0]["event_id"] = f"fuzz-{json.dumps(value)[:60]}"  # never an id stored before the fuzz
    assert post(world_client, "/v1/events", json.dumps(doc).encode(), JSON) in EVENT_STATUSES


@FUZZ
@given(where=st.sampled_from(BID_PATHS), value=json_values)
def test_bid_requests_with_one_field_replaced(world_client: TestClient, before: dict[str, Any], where: list[str],
                                             value: Any) -> None:  # fmt: skip
    doc = mutate(valid_bid(), where, value)
    assert post(world_client, "/v1/ads/openrtb", json.dumps(doc).encode(), KEY) in BID_STATUSES


@FUZZ
@given(size=st.integers(1, 3000), item=json_values)
def test_huge_arrays(world_client: TestClient, before: dict[str, Any], size: int, item: Any) -> None:
    events = json.dumps({"events": [item] * size}).encode()
    assert post(world_client, "/v1/events", events, JSON) in EVENT_STATUSES
    imps = json.dumps(valid_bid() | {"imp": [item] * size}).encode()
    assert post(world_client, "/v1/ads/openrtb", imps, KEY) in BID_STATUSES


@pytest.mark.parametrize("index", range(len(raw_attacks())))
def test_hand_made_attacks(world_client: TestClient, before: dict[str, Any], index: int) -> None:
    body = raw_attacks()[index]
    status = post(world_client, "/v1/events", body, JSON)
    assert status in {400, 413, 422}, (index, status)
    if len(body) > MAX_BODY_BYTES:
        assert status == 413
    assert post(world_client, "/v1/ads/openrtb", body, KEY) in {400, 413}


def test_nothing_stored_before_the_fuzz_was_lost_or_changed(world_client: TestClient, before: dict[str, Any]) -> None:
    """Runs after the fuzz tests above (pytest keeps file order)."""
    assert_nothing_lost_or_changed(world_client, before)
    assert len(before["events"]) > 20
