"""kill -9 of the server while it takes viewing events AND ad tracking calls, then a restart.

One real server process (uvicorn, the default SQLite stores) takes event batches from two clients and
tracking pixels from two players (every pixel fired twice, as players retry) when it is killed with
SIGKILL. After a restart on the same files, every pixel is fired once more. Then, reading the stores:

* every acknowledged event is stored, exactly once;
* every (impression, event) is stored at most once: a pixel acknowledged as ``new`` before the kill
  is a ``duplicate`` after it, and the delivery counters equal the tracking rows;
* budgets are consistent: each line item's committed spend equals the spend of its tracked events
  (recomputed from the signed tokens) and stays within its budget.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from lxml import etree

from ads.delivery import effect_of
from ads.tracking import TokenSigner
from data.ads_store import open_ad_store
from data.events import open_event_store
from services.protocols.vast import VAST_NS
from services.settings import Settings
from tests.services.serve_world import free_port, start
from tests.services.world import API_KEYS, DECIDE_KEY

pytestmark = pytest.mark.slow
ARGS = ("--areas", "events,ads", "--no-index")
TRACKED = ("impression", "start", "firstQuartile", "midpoint", "thirdQuartile", "complete")


def decisions(base: str, n: int) -> list[str]:
    """Tracking URLs (path and query) of ``n`` OpenRTB decisions by different viewers."""
    urls: list[str] = []
    with httpx.Client(base_url=base, timeout=30.0, headers={"X-API-Key": DECIDE_KEY}) as http:
        for i in range(n):
            bid = {"id": f"kill-{i}", "tmax": 5000,
                   "imp": [{"id": "1", "video": {"mimes": ["video/mp4"], "minduration": 5, "maxduration": 30,
                                                 "poddur": 60, "maxseq": 3, "podid": "p", "plcmt": 1}}],
                   "user": {"id": f"viewer-{i % 12}"}, "device": {"devicetype": 3}}  # fmt: skip
            response = http.post("/v1/ads/openrtb", json=bid)
            assert response.status_code in (200, 204), response.text
            if response.status_code == 204:
                continue
            for seat in response.json()["seatbid"]:
                for b in seat["bid"]:
                    vast = etree.fromstring(b["adm"].encode())
                    for node in vast.iter(f"{{{VAST_NS}}}Impression", f"{{{VAST_NS}}}Tracking"):
                        event = node.get("event") or "impression"
                        if event in TRACKED and node.text:
                            parts = urlsplit(node.text.strip())
                            urls.append(f"{parts.path}?{parts.query}")
    return urls


def test_kill9_during_event_intake_and_tracking_loses_and_doubles_nothing(tmp_path: Path) -> None:
    port = free_port()
    server = start(tmp_path, port, *ARGS)
    base = f"http://127.0.0.1:{port}"
    urls = decisions(base, 60)
    assert len(urls) >= 100, f"only {len(urls)} tracking URLs: the market did not fill"
    pixels = urls * 2
    random.Random(7).shuffle(pixels)

    acknowledged_events: list[str] = []
    sent_events: list[str] = []
    tracked_new: set[str] = set()
    tracked_ack: list[str] = []
    stop = threading.Event()

    def post_events(worker: int) -> None:
        with httpx.Client(base_url=base, timeout=10.0) as http:
            batch = 0
            while not stop.is_set():
                ids = [f"k{worker}-{batch}-{i}" for i in range(50)]
                sent_events.extend(ids)
                body = {"events": [{"event_id": e, "profile_id": "movielens:1", "title_id": "tmdb:1001",
                                    "timestamp": 1.7e9 + i, "kind": "play"} for i, e in enumerate(ids)]}  # fmt: skip
                try:
                    response = http.post("/v1/events", json=body)
                except httpx.HTTPError:
                    return
                if response.status_code == 200:
                    acknowledged_events.extend(r["event_id"] for r in response.json()["results"]
                                               if r["status"] in ("stored", "duplicate"))  # fmt: skip
                batch += 1

    def fire(worker: int) -> None:
        with httpx.Client(base_url=base, timeout=10.0) as http:
            for url in pixels[worker::2]:
                if stop.is_set():
                    return
                try:
                    response = http.get(url)
                except httpx.HTTPError:
                    return
                assert response.status_code == 204, response.text
                tracked_ack.append(url)
                if response.headers["x-marquee-tracked"] == "new":
                    assert url not in tracked_new, f"{url} counted twice"
                    tracked_new.add(url)
                time.sleep(0.002)

    workers = [threading.Thread(target=post_events, args=(w,)) for w in range(2)]
    workers += [threading.Thread(target=fire, args=(w,)) for w in range(2)]
    try:
        for w in workers:
            w.start()
        deadline = time.monotonic() + 60
        while (len(acknowledged_events) < 600 or len(tracked_ack) < len(pixels) // 3) and time.monotonic() < deadline:
            time.sleep(0.02)
        server.send_signal(signal.SIGKILL)  # no shutdown hooks: only what is committed survives
        server.wait(timeout=10)
        stop.set()
        for w in workers:
            w.join(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert len(acknowledged_events) >= 600 and len(sent_events) > len(acknowledged_events)
    assert len(pixels) // 3 <= len(tracked_ack) < len(pixels), "the kill should land while pixels are in flight"

    # restart on the same files; every pixel once more: those acknowledged as new are duplicates now
    port = free_port()
    server = start(tmp_path, port, *ARGS)
    after: dict[str, str] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as http:
            for url in urls:
                response = http.get(url)
                assert response.status_code == 204
                after[url] = response.headers["x-marquee-tracked"]
    finally:
        server.kill()
        server.wait()
    assert all(after[u] == "duplicate" for u in tracked_new), "a pixel acknowledged before the kill counted again"

    settings = Settings(artifacts_dir=tmp_path / "artifacts", api_keys=API_KEYS)
    events = open_event_store(settings.events_target)
    try:
        stored = events.events_frame()
        assert not set(acknowledged_events) - set(stored["event_id"]), "an acknowledged event was lost"
        assert stored["event_id"].is_unique
    finally:
        events.close()

    signer = TokenSigner(settings.ads_tracking_secret)
    tickets = {}
    for url in urls:
        event, token = urlsplit(url).path.rsplit("/", 1)[1], urlsplit(url).query.split("t=", 1)[1].split("&")[0]
        tickets[url] = (event, signer.verify(token, now=time.time()))
    store = open_ad_store(settings.ads_target)
    try:
        expected_spend: dict[str, float] = defaultdict(float)
        expected_counts: Counter[tuple[str, str]] = Counter()
        rows = 0
        for impression in {t.impression_id for _, t in tickets.values()}:
            tracked = store.tracked(impression)
            assert len(tracked) == len(set(tracked)), f"{impression} has an event stored twice: {tracked}"
            rows += len(tracked)
            for event in tracked:
                ticket = next(t for e, t in tickets.values() if t.impression_id == impression and e == event)
                expected_spend[ticket.line_item_id] += effect_of(event, ticket).spend
                expected_counts[(ticket.line_item_id, event)] += 1
        assert rows == store.tracking_count() == len(set(urls))  # after the replay every pixel is applied once
        assert dict(expected_counts) == {(li, e): c for li, e, c in store.event_rows()}
        budgets = {d["id"]: float(d["budget"]) for d in store.inventory_docs()["line_items"]}
        spend_rows = dict(store.spend_rows())
        for line_item, spend in expected_spend.items():
            assert store.committed_spend(line_item) == pytest.approx(spend, abs=1e-9)
            assert spend_rows[line_item] == pytest.approx(spend, abs=1e-9)
            assert spend <= budgets[line_item] + 1e-9
    finally:
        store.close()
    print({"events_acknowledged": len(acknowledged_events), "events_sent": len(sent_events),
           "pixels": len(pixels), "pixels_acknowledged_before_kill": len(tracked_ack),
           "new_before_kill": len(tracked_new), "new_after_restart": sum(v == "new" for v in after.values()),
           "tracking_rows": rows})  # fmt: skip
