"""Fixtures for API-wide tests: the whole app (every area) over the small deployment of ``world.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.app import create_app
from services.settings import Settings
from tests.services.world import build_world, use_concept_encoder


@pytest.fixture(scope="module")
def world_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_world(Path(tmp_path_factory.mktemp("world")))


@pytest.fixture(scope="module")
def world_client(world_settings: Settings) -> Iterator[TestClient]:
    """Every area started (search, events, pages, ads); the same test encoder built the index."""
    patch = pytest.MonkeyPatch()
    use_concept_encoder(patch)
    try:
        with TestClient(create_app(world_settings), raise_server_exceptions=False) as client:
            assert client.get("/readyz").status_code == 200, client.get("/readyz").text
            yield client
    finally:
        patch.undo()
