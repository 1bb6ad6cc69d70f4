"""Two real ``marquee serve`` replicas (separate processes, separate ports) on ONE PostgreSQL.

Ad decisions and tracking are driven through both replicas at once, every tracking pixel fired at
both (a player retrying against another replica behind a balancer): no viewer gets more impressions
of a line item than its cap, each (impression, event) is counted exactly once, and no line item
spends past its budget. Then a kill -9 of one replica in the middle of an event load loses no
acknowledged event. Each test gets its own PostgreSQL schema (``tests/databases.py``) and skips with
the reason where no server answers (``make postgres`` starts one; CI requires it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from lxml import etree

from ads.inventory import iso
from data.ads_store import open_ad_store
from data.events import open_event_store
from services.protocols.openrtb import hashed_viewer_key
from services.protocols.vast import VAST_NS
from tests.ads.helpers import market
from tests.databases import postgres_schema_url
from tests.features.synthetic import make_world, write_catalog
from tests.services.test_events_durability import _free_port, _wait_ready

REPO = Path(__file__).resolve().parents[2]
DECIDE = {"X-API-Key": "demo-decide-key"}
NS = {"v": VAST_NS}
CAP_PER_DAY = 2
BUDGET = 0.25
VIEWERS = [f"viewer-{i}" for i in range(6)]

pytestmark = pytest.mark.slow


@pytest.fixture
def database_url() -> Iterator[str]:
    yield from postgres_schema_url()


def _start(tmp_path: Path, url: str, areas: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = dict(os.environ, MARQUEE_ARTIFACTS_DIR=str(tmp_path / "artifacts"), MARQUEE_DATABASE_URL=url,
               MARQUEE_CACHE_DIR=str(tmp_path / "cache"), MARQUEE_INDEX_WATCH_S="0", OMP_NUM_THREADS="1")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--areas", areas],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, proc, timeout=120.0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, base


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _world(tmp_path: Path) -> None:
    world = make_world(n_titles=30, n_users=4, events_per_user=5, dim=8)
    write_catalog(world, tmp_path / "artifacts" / "catalog")


def _seed_ads(url: str) -> dict[str, list[dict[str, Any]]]:
    docs = market(6, seed=2)
    now = time.time()
    for group in ("campaigns", "line_items"):
        for doc in docs[group]:
            doc["start"], doc["end"] = iso(now - 86_400), iso(now + 30 * 86_400)
    for li in docs["line_items"]:
        li["caps"] = {"per_day": CAP_PER_DAY}
        li["budget"] = BUDGET
    store = open_ad_store(url)
    for kind, group in (("advertiser", "advertisers"), ("campaign", "campaigns"), ("creative", "creatives"),
                        ("line_item", "line_items")):  # fmt: skip
        store.put_many((kind, d) for d in docs[group])
    store.close()
    return docs


def _bid_request(viewer: str, n: int) -> dict[str, Any]:
    return {"id": f"req-{viewer}-{n}", "tmax": 5000,
            "imp": [{"id": "1", "video": {"mimes": ["video/mp4"], "minduration": 5, "maxduration": 30,
                                          "protocols": [7], "podid": "pod-1", "poddur": 60, "maxseq": 2}}],
            "app": {"id": "marquee-app", "content": {"id": "tmdb:603", "cat": ["IAB1-5"]}},
            "device": {"devicetype": 3, "geo": {"country": "USA"}}, "user": {"id": viewer},
            "regs": {"coppa": 0, "gdpr": 0}}  # fmt: skip


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_two_replicas_agree_on_caps_budgets_and_tracking(tmp_path: Path, database_url: str) -> None:
    _world(tmp_path)
    docs = _seed_ads(database_url)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        bases = []
        for _ in range(2):
            proc, base = _start(tmp_path, database_url, "events,ads")
            procs.append(proc)
            bases.append(base)
        outcomes: Counter[tuple[str, str, str]] = Counter()  # (impression, event, new|duplicate)
        placed: list[tuple[str, str, str, float]] = []  # (viewer, line item, impression path, price)
        errors: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(4)

        def driver(k: int) -> None:
            mine, other = bases[k % 2], bases[(k + 1) % 2]
            with httpx.Client(timeout=30.0) as http:
                barrier.wait()
                for n in range(30):
                    viewer = VIEWERS[(n + k) % len(VIEWERS)]
                    r = http.post(f"{mine}/v1/ads/openrtb", json=_bid_request(viewer, n * 10 + k), headers=DECIDE)
                    if r.status_code == 204:
                        continue
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {r.text[:200]}")
                        continue
                    for bid in r.json()["seatbid"][0]["bid"]:
                        root = etree.fromstring(bid["adm"].encode())
                        imp = _path(root.find(".//v:Impression", NS).text)
                        tracking = {t.get("event"): _path(t.text) for t in root.iterfind(".//v:Tracking", NS)}
                        with lock:
                            placed.append((viewer, bid["adid"], imp, bid["price"]))
                        # the player fires each pixel twice, once at each replica
                        for event, path in (("impression", imp), ("complete", tracking["complete"])):
                            for base in (mine, other):
                                t = http.get(f"{base}{path}")
                                with lock:
                                    outcomes[(path.split("?t=")[1], event, t.headers.get("x-marquee-tracked", "?"))] += 1

        threads = [threading.Thread(target=driver, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        _stop(procs)
    assert not errors, errors[:3]
    assert len(placed) >= 20, "the load did not place enough ads to mean anything"

    store = open_ad_store(database_url)
    try:
        li_ids = [li["id"] for li in docs["line_items"]]
        # frequency caps: from the database's own record of tracked impressions
        day = int(time.time() // 86_400)
        violations = [(v, li, c) for v, li, d, c in store.frequency_rows(day) if c > CAP_PER_DAY]
        # exactly-once tracking: each (token, event) answered "new" once over both replicas
        new = Counter((tok, ev) for (tok, ev, status), n in outcomes.items() if status == "new" for _ in range(n))
        double = [k for k, n in new.items() if n != 1]
        dupes = sum(n for (_, _, status), n in outcomes.items() if status == "duplicate")
        assert store.tracking_count() == len(new) == 2 * len(placed)
        spend = dict(store.spend_rows())
        over = {li: s for li, s in spend.items() if s > BUDGET + 1e-9}
        hashed = {hashed_viewer_key("user", v) for v in VIEWERS}
        per_viewer = Counter((v, li) for v, li, _, _ in placed)
        print(f"\nreplicas: {len(placed)} ads placed by 2 replicas, {sum(outcomes.values())} pixels fired "
              f"({len(new)} new, {dupes} duplicate); cap violations {len(violations)}; double-counted {len(double)}; "
              f"max spend/budget {max(spend.values(), default=0) / BUDGET:.3f}; line items {len(li_ids)}")  # fmt: skip
        assert not violations, violations[:5]
        assert not double, double[:5]
        assert dupes == len(new), "every pixel's second firing is reported as a duplicate"
        assert not over, over
        assert max(per_viewer.values()) <= CAP_PER_DAY
        assert {v for v, _, _, _ in store.frequency_rows(day)} <= hashed
        assert sum(c for _, e, c in store.event_rows() if e == "impression") == len(placed)
    finally:
        store.close()


def test_kill_9_of_one_replica_loses_no_acknowledged_event(tmp_path: Path, database_url: str) -> None:
    _world(tmp_path)
    procs: list[subprocess.Popen[bytes]] = []
    acknowledged: list[str] = []
    sent: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()
    try:
        bases = []
        for _ in range(2):
            proc, base = _start(tmp_path, database_url, "events")
            procs.append(proc)
            bases.append(base)

        def client(worker: int) -> None:
            base = bases[worker % 2]
            with httpx.Client(base_url=base, timeout=10.0) as http:
                batch = 0
                while not stop.is_set():
                    ids = [f"w{worker}-b{batch}-{i}" for i in range(50)]
                    with lock:
                        sent.extend(ids)
                    body = {"events": [{"event_id": e, "profile_id": "movielens:1", "title_id": "tmdb:1001",
                                        "timestamp": 1.7e9 + i, "kind": "play"} for i, e in enumerate(ids)]}  # fmt: skip
                    try:
                        r = http.post("/v1/events", json=body)
                    except httpx.HTTPError:
                        if worker % 2 == 0:
                            return  # replica 0 died under us: this batch was never acknowledged
                        raise
                    if r.status_code == 200:
                        with lock:
                            acknowledged.extend(x["event_id"] for x in r.json()["results"]
                                                if x["status"] in ("stored", "duplicate"))  # fmt: skip
                    batch += 1

        workers = [threading.Thread(target=client, args=(w,)) for w in range(4)]
        for w in workers:
            w.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
        procs[0].send_signal(signal.SIGKILL)  # no shutdown hooks: only what PostgreSQL committed survives
        procs[0].wait(timeout=10)
        time.sleep(1.0)  # replica 1 keeps serving
        stop.set()
        for w in workers:
            w.join(timeout=30)
    finally:
        stop.set()
        _stop(procs)
    assert len(acknowledged) >= 1000, "the load did not run long enough to mean anything"
    assert len(sent) > len(acknowledged), "the kill should land while batches are in flight"
    store = open_event_store(database_url)
    try:
        stored = store.has_events(acknowledged)
        print(f"\nkill -9: {len(acknowledged)} events acknowledged by 2 replicas, {len(sent)} sent, "
              f"{len(set(acknowledged) - stored)} lost")  # fmt: skip
    finally:
        store.close()
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged events were lost, e.g. {sorted(missing)[:3]}"
