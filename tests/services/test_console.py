"""The console at /console/, driven in Debian's Chromium (headless, through Playwright) against a real
server started from the built default-scope artifacts: each screen is used with typed text and clicks,
and the test asserts on what the page shows. Screenshots go to the test's tmp_path (and, when
``MARQUEE_CONSOLE_SCREENSHOTS`` names a folder, there too as ``console-<screen>.png``)."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.services.live_server import CHROMIUM, CHROMIUM_ARGS, built_artifacts, live_server

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("console")]

TIMEOUT_MS = 30_000  # one search or page on a loaded 2-core machine stays far below this


@pytest.fixture(scope="module")
def artifacts() -> Path:
    return built_artifacts()


@pytest.fixture(scope="module")
def server(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(artifacts, tmp_path_factory.mktemp("console-server")) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run `make browser`"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server)
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto("/console/")
    yield tab
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def screenshot(tab: Any, tmp_path: Path, name: str, *, full_page: bool = False) -> Path:
    path = tmp_path / f"console-{name}.png"
    tab.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 10_000  # a rendered screen, not a blank image
    extra = os.environ.get("MARQUEE_CONSOLE_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(extra) / path.name)
    return path


def texts(tab: Any, selector: str) -> list[str]:
    return [str(t).strip() for t in tab.locator(selector).all_inner_texts()]


def result_count(tab: Any) -> int:
    match = re.match(r"(\d+)", tab.inner_text("#search-status"))
    assert match, tab.inner_text("#search-status")
    return int(match.group(1))


def wait_for_results(tab: Any, query: str, *, filters: str = "", lang: str = "en", profile: str = "") -> list[str]:
    """Wait until the tiles shown answer exactly this query, filters, UI language and profile (an answer to an
    earlier keystroke is never taken for it); return their titles."""
    tab.wait_for_selector(f'#results[data-query="{query}"][data-filters="{filters}"][data-lang="{lang}"]'
                          f'[data-profile="{profile}"]', state="attached")  # fmt: skip
    return texts(tab, ".tile.result h3")


def wait_for_status_change(tab: Any, selector: str, before: str) -> str:
    tab.wait_for_function("([sel, old]) => { const t = document.querySelector(sel).textContent; "
                          "return t && t !== old && t !== '…'; }", arg=[selector, before])  # fmt: skip
    return str(tab.inner_text(selector))


@pytest.fixture(scope="module")
def maturity_of(artifacts: Path) -> dict[str, str]:
    titles = pd.read_parquet(artifacts / "catalog" / "titles.parquet", columns=["title_id", "maturity"])
    return dict(zip(titles["title_id"], titles["maturity"], strict=True))


# ------------------------------------------------------------------------------------------ (1) search


def test_search_as_you_type_facets_language_and_profile(page: Any, tmp_path: Path) -> None:
    tab = page
    tab.locator("#q").press_sequentially("dinosaur park", delay=40)
    titles = wait_for_results(tab, "dinosaur park")
    assert titles[0] == "Jurassic Park" and "Dinosaur" in titles
    first = tab.locator(".tile.result").first
    assert first.locator(".year").inner_text() == "1993" and first.locator(".type").inner_text() == "movie"
    assert first.locator(".maturity").inner_text() in ("kids", "older_kids", "teens", "adults")
    assert "dinosaurs" in first.locator(".description").inner_text()
    assert "title" in first.locator(".why").inner_text()
    total = result_count(tab)

    # a facet click filters (and shows as a removable chip); removing it restores the full set
    tab.click(".facet[data-param=genre][data-value=children]")
    filtered_titles = wait_for_results(tab, "dinosaur park", filters="genre=children")
    chips = tab.locator(".chip.filter").all()
    assert [(c.get_attribute("data-param"), c.get_attribute("data-value")) for c in chips] == [("genre", "children")]
    filtered = result_count(tab)
    assert 0 < filtered < total
    assert "Jurassic Park" not in filtered_titles
    screenshot(tab, tmp_path, "search")
    tab.click(".chip.filter .x")
    assert wait_for_results(tab, "dinosaur park") == titles
    assert result_count(tab) == total and tab.locator(".chip.filter").count() == 0

    # the profile picker re-ranks for that viewer: a kids profile sees only kids titles
    tab.select_option("#profile", "demo:kids")
    kids_titles = wait_for_results(tab, "dinosaur park", profile="demo:kids")
    assert kids_titles and kids_titles[:3] != titles[:3]
    assert set(texts(tab, ".tile.result .maturity")) == {"kids"}
    assert "demo:kids" in tab.inner_text("#search-status")

    # the UI language switch: labels change, and titles and descriptions come in that language when they exist
    tab.select_option("#profile", "")
    tab.fill("#q", "")
    tab.locator("#q").press_sequentially("amelie poulain", delay=30)
    assert wait_for_results(tab, "amelie poulain")[0] == "Amelie"
    tab.select_option("#ui-lang", "fr")
    wait_for_results(tab, "amelie poulain", lang="fr")
    assert tab.inner_text("#tab-search") == "Recherche" and "résultats" in tab.inner_text("#search-status")
    first = tab.locator(".tile.result").first
    assert first.locator("h3").inner_text() == "Le Fabuleux Destin d'Amélie Poulain"
    assert first.locator(".description .lang").inner_text() == "FR"
    assert "Montmartre" in first.locator(".description").inner_text()
    screenshot(tab, tmp_path, "search-fr")


def test_understood_query_shows_removable_intent_chips(page: Any, server: str, tmp_path: Path) -> None:
    query = "french comedies from the 90s"
    body = httpx.get(f"{server}/v1/search", params={"q": query, "limit": 12}, timeout=60).json()
    if not body.get("understood"):
        pytest.skip("this build's /v1/search does not report parsed intent ('understood')")
    tab = page
    tab.locator("#q").press_sequentially(query, delay=30)
    shown = wait_for_results(tab, query)
    kinds = [c.get_attribute("data-kind") for c in tab.locator(".chip.understood").all()]
    assert kinds == [u["kind"] for u in body["understood"]]
    before = tab.inner_text("#search-status")
    tab.locator(".chip.understood .x").first.click()
    wait_for_status_change(tab, "#search-status", before)
    # understanding is off now; the other understood constraints stay, as explicit filters
    assert tab.locator(".chip.off").count() == 1 and tab.locator(".chip.understood").count() == 0
    as_filter = {"type": "type", "genre": "genre", "years": "years", "country": "country", "audience": "max_maturity",
                 "runtime": "runtime"}
    kept = [(as_filter[u["kind"]], u["value"]) for u in body["understood"][1:] if u["kind"] in as_filter]
    chips = tab.locator(".chip.filter").all()
    assert [(c.get_attribute("data-param"), c.get_attribute("data-value")) for c in chips] == kept
    assert texts(tab, ".tile.result h3") != shown
    screenshot(tab, tmp_path, "search-understood")


def test_a_running_time_chip_stays_a_filter_and_each_tile_shows_its_minutes(page: Any, tmp_path: Path) -> None:
    query = "horror under 90 minutes"
    tab = page
    tab.locator("#q").press_sequentially(query, delay=30)
    wait_for_results(tab, query)
    assert [c.get_attribute("data-kind") for c in tab.locator(".chip.understood").all()] == ["runtime", "genre"]

    def minutes() -> list[int]:
        shown = texts(tab, ".tile.result .runtime")
        assert len(shown) == tab.locator(".tile.result").count() > 0, shown
        return [int(re.search(r"(\d+) min", text).group(1)) for text in shown]  # type: ignore[union-attr]

    assert all(m <= 90 for m in minutes())
    before = tab.inner_text("#search-status")
    tab.locator('.chip.understood[data-kind="genre"] .x').click()  # drop the genre: the bound stays, as a filter
    wait_for_status_change(tab, "#search-status", before)
    chips = tab.locator(".chip.filter").all()
    assert [(c.get_attribute("data-param"), c.get_attribute("data-value")) for c in chips] == [("runtime", "-90")]
    assert all(m <= 90 for m in minutes())
    screenshot(tab, tmp_path, "search-runtime")


# ------------------------------------------------------------------------------------------ (2) home page


def test_home_page_rows_events_change_the_next_load_and_kids_are_limited(page: Any, tmp_path: Path,
                                                                        maturity_of: dict[str, str]) -> None:  # fmt: skip
    tab = page
    tab.click("#tab-home")
    assert "profile" in tab.inner_text("#home-banner").lower()  # nothing picked yet
    viewer = f"console-{uuid.uuid4().hex[:8]}"
    tab.fill("#new-profile-id", viewer)
    tab.select_option("#new-profile-maturity", "adults")
    tab.click("#new-profile button[type=submit]")
    tab.wait_for_selector(".row .tile.item")
    assert tab.input_value("#profile") == viewer and "cold start" in tab.inner_text("#home-banner")
    rows = tab.locator(".row")
    assert rows.count() >= 3
    for i in range(rows.count()):  # every row says why it is there
        assert rows.nth(i).locator("h3").inner_text() and rows.nth(i).locator(".reason").inner_text()
    assert "continue-watching" not in [r.get_attribute("data-row-id") for r in rows.all()]

    # "watch" posts real play + progress events; the next load has a Continue Watching row with that title
    tile = tab.locator(".row .tile.item").first
    watched_id, watched = tile.get_attribute("data-title-id"), tile.locator("h4").inner_text()
    tile.locator("button.watch").click()
    tab.wait_for_selector("#home-status.ok")
    assert watched in tab.inner_text("#home-status")
    tab.click("#home-reload")
    continuing = tab.locator('.row[data-row-id="continue-watching"]')
    continuing.wait_for()
    assert "fresh" in (continuing.get_attribute("class") or "")  # marked new since the last load
    assert watched_id in [t.get_attribute("data-title-id") for t in continuing.locator(".tile.item").all()]
    assert "cold start" not in tab.inner_text("#home-banner")
    screenshot(tab, tmp_path, "home")

    # "finish" posts a complete event: on the next load the title has left Continue Watching
    continuing.locator(f'.tile.item[data-title-id="{watched_id}"] button.finish').click()
    tab.wait_for_selector("#home-status.ok")
    tab.click("#home-reload")
    tab.wait_for_function("id => !document.querySelector(`.row[data-row-id=\"continue-watching\"] "
                          ".tile.item[data-title-id=\"${id}\"]`)", arg=watched_id)  # fmt: skip

    # the kids profile: a visible banner, and every title on its page is rated for kids
    adult_titles = [t.get_attribute("data-title-id") for t in tab.locator(".tile.item").all()]
    assert any(maturity_of[t] != "kids" for t in adult_titles)
    tab.select_option("#profile", "demo:kids")
    tab.wait_for_selector("#home-banner.kids")
    assert "KIDS" in tab.inner_text("#home-banner")
    kids_titles = [t.get_attribute("data-title-id") for t in tab.locator(".tile.item").all()]
    assert kids_titles and {maturity_of[t] for t in kids_titles} == {"kids"}
    screenshot(tab, tmp_path, "home-kids")


# ------------------------------------------------------------------------------------------ (3) ad break


def test_ad_break_inspector_explains_the_pod_and_shows_its_vast(page: Any, server: str, tmp_path: Path) -> None:
    tab = page
    # no key in the page's source: the demo keys come from /v1/ads/demo-keys while the server accepts them
    for asset in ("/console/", "/console/app.js"):
        source = httpx.get(f"{server}{asset}", timeout=10).text
        assert "demo-decide-key" not in source and "demo-admin-key" not in source
    tab.click("#tab-ads")
    tab.wait_for_function("document.querySelector('#key-admin').value.length > 0")
    assert "demo keys" in tab.inner_text("#keys-note")

    tab.fill("#ad-profile", "movielens:1")
    tab.fill("#ad-title", "tmdb:329")
    tab.select_option("#ad-device", "3")
    tab.fill("#ad-poddur", "60")
    tab.fill("#ad-maxseq", "4")
    tab.click("#ad-send")
    status = wait_for_status_change(tab, "#ad-status", "")
    assert "regime personalized" in status and "the dry run predicted this pod" in status
    pod = [li.get_attribute("data-line-item") for li in tab.locator("#pod li").all()]
    assert 1 <= len(pod) <= 4
    chosen = [r.get_attribute("data-line-item") for r in tab.locator("#candidates tbody tr[data-stage=chosen]").all()]
    assert chosen == pod
    stages = {r.get_attribute("data-stage") for r in tab.locator("#candidates tbody tr").all()}
    assert {"chosen", "eligibility"} <= stages and stages & {"auction", "separation", "floor", "slot"}
    assert tab.locator("#candidates tbody tr").count() >= 30  # every line item of the demo inventory
    vast = tab.inner_text("#vast")
    assert vast.startswith("<VAST") and vast.count("<Ad ") == len(pod) and "<MediaFile" in vast
    assert '"poddur": 60' in tab.locator("#request-json pre").text_content()
    screenshot(tab, tmp_path, "ads")

    # COPPA: the kids regime, and every line item that is not kids-safe is rejected for that reason
    tab.check("#ad-coppa")
    before = tab.inner_text("#ad-status")
    tab.click("#ad-send")
    status = wait_for_status_change(tab, "#ad-status", before)
    assert "regime kids" in status or "204" in status
    rules = {r.get_attribute("data-rule") for r in tab.locator("#candidates tbody tr[data-stage=eligibility]").all()}
    assert "kids_unsafe" in rules

    # a floor above every price: no bid, and the candidates that were live say "floor"
    tab.uncheck("#ad-coppa")
    tab.fill("#ad-floor", "900")
    before = tab.inner_text("#ad-status")
    tab.click("#ad-send")
    status = wait_for_status_change(tab, "#ad-status", before)
    assert "204" in status and tab.locator("#pod li").count() == 0 and not tab.inner_text("#vast")
    assert tab.locator("#candidates tbody tr[data-stage=floor]").count() >= 1
