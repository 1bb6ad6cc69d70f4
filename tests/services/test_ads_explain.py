"""``POST /v1/ads/openrtb/explain`` (admin dry run) and ``GET /v1/ads/demo-keys`` (the console's dev keys)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.app import create_app
from services.settings import Settings
from tests.services.test_ads_api import ADMIN, DECIDE, bid_request, live_market, seed


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(artifacts_dir=tmp_path / "artifacts", cache_dir=tmp_path / "cache", data_dir=tmp_path / "none")
    seed(settings, live_market())
    with TestClient(create_app(settings, areas=("ads",))) as c:
        yield c


def test_explain_is_admin_only_and_predicts_the_real_decision(client: TestClient) -> None:
    assert client.post("/v1/ads/openrtb/explain", json=bid_request()).status_code == 401
    assert client.post("/v1/ads/openrtb/explain", json=bid_request(), headers=DECIDE).status_code == 403
    first = client.post("/v1/ads/openrtb/explain", json=bid_request(), headers=ADMIN)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["filled"] and body["regime"] == "personalized"
    chosen = [p["line_item_id"] for p in body["placements"]]
    assert [c["line_item_id"] for c in body["candidates"] if c["kept"]] == chosen  # chosen first, in pod order
    assert {c["stage"] for c in body["candidates"]} <= set(body["stages"])
    # nothing was reserved: the same dry run again gives the same pod, and so does the real decision
    again = client.post("/v1/ads/openrtb/explain", json=bid_request(), headers=ADMIN).json()
    assert [p["line_item_id"] for p in again["placements"]] == chosen
    real = client.post("/v1/ads/openrtb", json=bid_request(), headers=DECIDE).json()
    assert [b["adid"] for b in real["seatbid"][0]["bid"]] == chosen
    assert [b["crid"] for b in real["seatbid"][0]["bid"]] == [p["creative_id"] for p in body["placements"]]
    # li0 has the top bid and a cap of one a day: the real decision reserved it, and the next dry run says so
    assert "li0" in chosen
    after = {c["line_item_id"]: c for c in client.post("/v1/ads/openrtb/explain", json=bid_request(),
                                                        headers=ADMIN).json()["candidates"]}  # fmt: skip
    assert (after["li0"]["stage"], after["li0"]["rule"]) == ("cap", "frequency_day")


def test_explain_names_coppa_and_floor_rules(client: TestClient) -> None:
    kids = client.post("/v1/ads/openrtb/explain", json=bid_request(regs={"coppa": 1}), headers=ADMIN).json()
    assert kids["regime"] == "kids"
    assert all(c["rule"] == "kids_unsafe" for c in kids["candidates"] if c["line_item_id"].startswith("li")
               and c["line_item_id"] not in ("litoys", "lihouse"))  # fmt: skip
    req = bid_request()
    req["imp"][0]["bidfloor"] = 900.0
    floored = client.post("/v1/ads/openrtb/explain", json=req, headers=ADMIN).json()
    assert not floored["filled"] and "floor" in {c["stage"] for c in floored["candidates"]}


def test_explain_rejects_malformed_requests_with_a_problem(client: TestClient) -> None:
    bad = client.post("/v1/ads/openrtb/explain", content=b"{not json", headers=ADMIN | {"content-type": "application/json"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
    missing = client.post("/v1/ads/openrtb/explain", json={"id": "x"}, headers=ADMIN)
    assert missing.status_code == 400 and any("imp" in e for e in missing.json()["errors"])


def test_demo_keys_only_while_the_server_accepts_them(client: TestClient, tmp_path: Path) -> None:
    assert client.get("/v1/ads/demo-keys").json() == {"keys": {"decide": "demo-decide-key", "admin": "demo-admin-key"}}
    own = Settings(artifacts_dir=tmp_path / "own", cache_dir=tmp_path / "cache", data_dir=tmp_path / "none",
                   api_keys="s3cret-key:decide,other-key:admin")  # fmt: skip
    with TestClient(create_app(own, areas=("ads",))) as c:
        response = c.get("/v1/ads/demo-keys")
    assert response.status_code == 404 and "s3cret" not in response.text
