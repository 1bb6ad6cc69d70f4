"""Partner API keys: scopes, missing/unknown/revoked keys, where a key may be presented, rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.app import create_app
from services.auth import KeyRing, parse_api_keys, parse_revoked
from services.settings import Settings
from tests.services.world import live_market, seed_ads

KEYS = "decider:decide,admin1:admin,both:decide,both:admin,old-key:admin,slow:decide"
BID = {"id": "r", "imp": [{"id": "1", "video": {"mimes": ["video/mp4"], "maxduration": 30}}]}


def make_settings(tmp_path: Path, **over: Any) -> Settings:
    fields: dict[str, Any] = {"api_keys": KEYS, "api_keys_revoked": "old-key", "api_rate_limit": "1000/second", **over}
    settings = Settings(artifacts_dir=tmp_path / "artifacts", cache_dir=tmp_path / "cache", data_dir=tmp_path / "none",
                        **fields)  # fmt: skip
    seed_ads(settings.ads_target, live_market())
    return settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path), areas=("ads",))) as c:
        yield c


def problem_type(response: Any) -> str:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return str(response.json()["type"]).rsplit("/", 1)[1]


def test_a_decide_key_decides_and_cannot_reach_admin_operations(client: TestClient) -> None:
    decide = {"X-API-Key": "decider"}
    assert client.post("/v1/ads/openrtb", json=BID, headers=decide).status_code in (200, 204)
    assert client.get("/v1/ads/vast", headers=decide).status_code == 200
    for method, path in (("GET", "/v1/ads/status"), ("GET", "/v1/ads/advertisers"), ("GET", "/v1/ads/advertisers/adv0"),
                         ("POST", "/v1/ads/advertisers/adv0/pause"), ("GET", "/v1/ads/line-items/li0/delivery"),
                         ("POST", "/v1/ads/openrtb/explain")):  # fmt: skip
        response = client.request(method, path, headers=decide, json=BID if "explain" in path else None)
        assert response.status_code == 403 and problem_type(response) == "api-key-scope", (method, path)
    # nothing was paused by the refused call
    admin = {"X-API-Key": "admin1"}
    assert client.get("/v1/ads/advertisers/adv0", headers=admin).json().get("status", "active") == "active"


def test_an_admin_key_cannot_decide(client: TestClient) -> None:
    response = client.post("/v1/ads/openrtb", json=BID, headers={"X-API-Key": "admin1"})
    assert response.status_code == 403 and problem_type(response) == "api-key-scope"
    assert client.get("/v1/ads/status", headers={"X-API-Key": "admin1"}).status_code == 200


@pytest.mark.parametrize(("headers", "slug"), [
    ({}, "api-key-required"),
    ({"X-API-Key": "nope"}, "api-key-invalid"),
    ({"Authorization": "Bearer nope"}, "api-key-invalid"),
    ({"X-API-Key": "old-key"}, "api-key-revoked"),
    ({"Authorization": "Bearer old-key"}, "api-key-revoked"),
    ({"Authorization": "Basic YWRtaW4xOg=="}, "api-key-required"),
])  # fmt: skip
def test_missing_unknown_and_revoked_keys_are_401(client: TestClient, headers: dict[str, str], slug: str) -> None:
    for method, path in (("GET", "/v1/ads/status"), ("POST", "/v1/ads/openrtb")):
        response = client.request(method, path, headers=headers, json=BID if method == "POST" else None)
        assert response.status_code == 401 and problem_type(response) == slug, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"


def test_where_a_key_may_be_presented(client: TestClient) -> None:
    assert client.get("/v1/ads/status", headers={"Authorization": "Bearer admin1"}).status_code == 200
    assert client.get("/v1/ads/vast", params={"key": "decider"}).status_code == 200  # players cannot send headers
    response = client.get("/v1/ads/status", params={"key": "admin1"})  # only the VAST tag reads key=
    assert response.status_code == 401 and problem_type(response) == "api-key-required"
    response = client.get("/v1/ads/vast", params={"key": "old-key"})
    assert response.status_code == 401 and problem_type(response) == "api-key-revoked"


def test_rate_limit_per_key_with_retry_after(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_rate_limit="5/minute")
    with TestClient(create_app(settings, areas=("ads",))) as client:
        slow = {"X-API-Key": "slow"}
        statuses = [client.get("/v1/ads/vast", headers=slow).status_code for _ in range(7)]
        assert statuses == [200] * 5 + [429] * 2
        limited = client.get("/v1/ads/vast", headers=slow)
        assert problem_type(limited) == "rate-limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # another key has its own window; refused keys are not counted against anyone
        assert client.get("/v1/ads/vast", headers={"X-API-Key": "decider"}).status_code == 200
        assert client.get("/v1/ads/vast", headers={"X-API-Key": "nope"}).status_code == 401


def test_malformed_key_settings_stop_the_ads_area(tmp_path: Path) -> None:
    settings = make_settings(tmp_path).model_copy(update={"api_keys": "k1:superuser"})
    with TestClient(create_app(settings, areas=("ads",))) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "superuser" in ready.json()["detail"]


def test_parsing() -> None:
    assert parse_api_keys(" a:decide, a:admin ,b:admin,,") == {"a": frozenset({"decide", "admin"}),
                                                              "b": frozenset({"admin"})}  # fmt: skip
    with pytest.raises(ValueError, match="'nokey'"):
        parse_api_keys("nokey")
    assert parse_revoked(" x, ,y ") == frozenset({"x", "y"})
    ring = KeyRing({"a": frozenset({"decide"})}, revoked=frozenset({"a"}))
    assert not ring.accepts("a", "decide")
