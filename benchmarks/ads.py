"""Ad selection on a simulated day: fill, revenue vs a random-eligible baseline, pacing, violations, latency.

    python benchmarks/ads.py            # quick: one simulated day (1,400 sessions, ~4.5k break requests)
    python benchmarks/ads.py --full     # three simulated days (seeds), 5,000 latency calls

What runs (all seeded; ``ads.simulator`` documents the viewers):

1. Features for every catalog profile (610 MovieLens + 3 demo) and title, through ``features`` (title
   embeddings when an index is built, else none: contextual briefs then cannot match).
2. The response model is trained on three *other* simulated days played by the exploration policy;
   their requests per UTC hour are the traffic forecast even pacing follows.
3. The same day of requests is replayed against three selectors, each with fresh delivery state:
   ``engine`` (AdEngine + trained model), ``engine_price_only`` (AdEngine + base-rate model: the auction
   without predictions) and ``random_eligible`` (RandomEligibleSelector: same filters, random choice),
   in two markets: ``balanced`` (daily budgets near the sellable supply) and ``oversold`` (~3×).
   Flights start at the simulated midnight.
4. Latency of the served decision on both database back ends side by side (``measure_latency``):
   ``POST /v1/ads/openrtb`` through two real apps (the trained model, the demo inventory, caps,
   budgets and reservations in ``StoredDelivery``), one on SQLite and one on PostgreSQL (a fresh
   schema on the ``make postgres`` server), interleaved request by request with ``GET /v1/noop``;
   the engine's ``decide`` alone on both and on the in-memory ``DeliveryState`` (baseline);
   decisions/s with 1 and 4 threads; p50/p99 and the ratios.
5. Reservation throughput (``measure_reservations``): reservations/s of the store's ``reserve``
   transaction with 1, 4 and 16 threads, spread over 1,000 line items or all on one hot line item,
   SQLite and PostgreSQL in the same run.

PostgreSQL must be running: ``make postgres`` (or ``--database-url``).

Violation counts are recomputed from the served log, independently of the selector's own checks.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import hardware, percentiles, postgres_schema, write_result  # noqa: E402

DAY = 86_400
DAY0 = 1_780_012_800.0  # a UTC midnight; the simulated day
CHECKPOINTS = 24
TRAINING_DAYS = 3
MARKETS = {"balanced": 0.2, "oversold": 0.6}
"""Demo budgets × this: 'balanced' puts daily demand near the day's sellable supply, 'oversold' at ~3×."""
LATENCY_BUDGET_SCALE = 50.0


def log_line(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def spend_at(trajectory: list[tuple[float, float]], times: np.ndarray) -> np.ndarray:
    """Cumulative spend reached by each checkpoint from a (time, cumulative spend) trajectory."""
    if not trajectory:
        return np.zeros(len(times))
    ts = np.array([t for t, _ in trajectory])
    sp = np.array([s for _, s in trajectory])
    idx = np.searchsorted(ts, times, side="right") - 1
    return np.where(idx >= 0, sp[np.clip(idx, 0, None)], 0.0)


def summarize(name: str, log: Any, inventory: Any, elapsed_s: float,
              shape: tuple[float, ...] | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # fmt: skip
    from ads.pacing import pacing_error
    from ads.simulator import cap_violations, kids_violations, separation_violations

    served = log.served
    paid = [a for a in served if a.price_cpm > 0]
    revenue = sum(a.spend for a in served)
    times = DAY0 + np.arange(1, CHECKPOINTS + 1) * DAY / CHECKPOINTS
    pacing_rows = []
    for li in inventory.line_items.values():
        if li.pacing != "even" or li.budget <= 0:
            continue
        view = inventory.view(li.id)
        day_budget = li.budget * DAY / (view.end - view.start)
        spend = spend_at(log.spend_trajectory.get(li.id, []), times)
        err = pacing_error(times, spend, day_budget, DAY0, DAY0 + DAY, shape)
        flat = pacing_error(times, spend, day_budget, DAY0, DAY0 + DAY)
        pacing_rows.append({"line_item": li.id, "day_budget": round(day_budget, 2), "delivered": round(err.delivered, 3),
                            "mean_abs_error": round(err.mean_abs, 4), "max_abs_error": round(err.max_abs, 4),
                            "mean_abs_error_vs_flat_line": round(flat.mean_abs, 4)})  # fmt: skip
    full = [r for r in pacing_rows if r["delivered"] >= 0.95]
    result = {
        "requests": log.requests, "filled_requests": log.filled_requests,
        "fill_rate": round(log.filled_requests / max(log.requests, 1), 4),
        "duration_fill": round(log.filled_seconds / max(log.requested_seconds, 1), 4),
        "impressions": len(served), "paid_impressions": len(paid),
        "revenue": round(revenue, 2), "ecpm": round(1000 * revenue / max(len(served), 1), 3),
        "completion_rate": round(float(np.mean([a.completed for a in served])) if served else 0.0, 4),
        "clicks": int(sum(a.clicked for a in served)),
        "ctr": round(float(np.mean([a.clicked for a in served])) if served else 0.0, 5),
        "personalized_share": round(float(np.mean([a.regime == "personalized" for a in served])) if served else 0.0, 4),
        "kids_impressions": int(sum(a.kids_truth for a in served)),
        "frequency_cap_violations": cap_violations(served, inventory),
        "separation_violations": separation_violations(served),
        "kids_coppa_violations": kids_violations(served),
        "pacing": {
            "even_line_items": len(pacing_rows),
            "fully_delivered": len(full),
            "median_mean_abs_error": round(float(np.median([r["mean_abs_error"] for r in pacing_rows])), 4) if pacing_rows else None,
            "median_mean_abs_error_fully_delivered": round(float(np.median([r["mean_abs_error"] for r in full])), 4) if full else None,
            "max_mean_abs_error": round(float(max(r["mean_abs_error"] for r in pacing_rows)), 4) if pacing_rows else None,
        },
        "simulate_s": round(elapsed_s, 1),
    }  # fmt: skip
    log_line(f"  {name}: fill {result['fill_rate']:.3f} revenue {result['revenue']:.2f} eCPM {result['ecpm']:.2f} "
             f"completion {result['completion_rate']:.3f} violations cap/sep/kids "
             f"{result['frequency_cap_violations']}/{result['separation_violations']}/{result['kids_coppa_violations']} "
             f"({elapsed_s:.0f} s)")  # fmt: skip
    return result, pacing_rows


def openrtb_body(sim: Any) -> dict[str, Any]:
    """A simulated break request as the OpenRTB 2.6 JSON a server-side ad insertion service would send."""
    req = sim.request
    pod = req.pods[0]
    slot = pod.slots[0]
    privacy = req.privacy
    body: dict[str, Any] = {
        "id": req.request_id, "tmax": 500, "cur": ["USD"],
        "imp": [{"id": slot.imp_id, "bidfloor": slot.floor_cpm, "bidfloorcur": "USD",
                 "video": {"mimes": sorted(slot.mimes), "minduration": slot.min_duration_s,
                           "maxduration": slot.max_duration_s, "protocols": sorted(slot.protocols), "plcmt": 1,
                           "podid": pod.pod_id, "poddur": pod.pod_duration_s, "maxseq": pod.max_ads,
                           **({"rqddurs": sorted(slot.required_durations)} if slot.required_durations else {})}}],
        "app": {"id": "marquee", "content": {"id": req.content.title_id, "genre": ",".join(sorted(req.content.genres)),
                                             "cat": sorted(req.content.categories)}},
        "device": {"devicetype": req.device_type, "lmt": int(privacy.limit_ad_tracking),
                   "geo": {"country": req.country}},
        "regs": {"coppa": int(privacy.coppa), "gdpr": int(bool(privacy.gdpr)),
                 **({"us_privacy": privacy.us_privacy} if privacy.us_privacy else {})},
        "bcat": sorted(req.blocked_categories), "badv": sorted(req.blocked_advertisers),
    }  # fmt: skip
    user: dict[str, Any] = {}
    if req.profile_id:
        user["id"] = req.profile_id
    else:
        body["device"]["ifa"] = req.viewer_key
    if privacy.tcf_consent:
        user["consent"] = privacy.tcf_consent
    if user:
        body["user"] = user
    return body


DEFAULT_PG_URL = "postgresql://marquee@127.0.0.1:55432/marquee"
"""The server ``make postgres`` starts (``scripts/postgres.sh``); ``--database-url`` overrides it."""



def _served_app(stack: ExitStack, tmp: Path, name: str, database_url: str | None, docs: dict[str, Any], model: Any,
                catalog_dir: Path, index_dir: Path) -> tuple[Any, float]:  # fmt: skip
    """The real app's ads area on one back end (SQLite files under ``tmp/name``, or ``database_url``),
    seeded with ``docs`` and ``model``; (TestClient, start-up seconds)."""
    from fastapi.testclient import TestClient

    from data.ads_store import open_ad_store
    from services.app import create_app
    from services.routers.ads import MODEL_FILE
    from services.settings import Settings

    artifacts = tmp / name / "artifacts"
    artifacts.mkdir(parents=True)
    os.symlink(catalog_dir, artifacts / "catalog")
    if index_dir.is_dir():
        os.symlink(index_dir, artifacts / "index")
    settings = Settings(artifacts_dir=artifacts, database_url=database_url)
    store = open_ad_store(settings.ads_target)
    for kind, group in (("advertiser", "advertisers"), ("campaign", "campaigns"), ("creative", "creatives"),
                        ("line_item", "line_items")):  # fmt: skip
        store.put_many((kind, d) for d in docs[group])
    store.close()
    model.save(settings.models_dir / MODEL_FILE)
    started = time.perf_counter()
    client = stack.enter_context(TestClient(create_app(settings, areas=("ads",))))
    return client, time.perf_counter() - started


def _decisions_per_s(engine: Any, ad_requests: list[Any], threads: int) -> float:
    """Decisions per second of ``threads`` threads deciding ``ad_requests`` (split between them) at once."""
    chunks = [ad_requests[k::threads] for k in range(threads)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda chunk: [engine.decide(r) for r in chunk], chunks))
    return len(ad_requests) / (time.perf_counter() - started)


def measure_latency(requests: list[Any], budget_scale: float, model: Any, n: int, catalog_dir: Path,
                    index_dir: Path, database_url: str) -> dict[str, Any]:  # fmt: skip
    """The served ad decision on SQLite and on PostgreSQL, side by side, with the in-memory path as a baseline.

    Two real apps (ads area), one per back end, each with its own copy of the demo inventory and the
    model: ``StoredDelivery`` on SQLite (WAL files) and on PostgreSQL (a fresh schema on the
    ``make postgres`` server). Measured, the back ends interleaved request by request (order rotated):
    ``POST /v1/ads/openrtb`` through the app (HTTP in-process) next to ``GET /v1/noop``; the engine's
    ``decide`` alone (no HTTP, JSON or VAST) on each app's engine and on the same engine with the
    in-memory ``DeliveryState`` (no database: the baseline); and decisions/s of 1 and 4 threads
    deciding at once. The app decides at wall-clock time, so the flights start today (UTC), with
    budgets large enough that minutes of replayed requests never exhaust them."""
    from ads.delivery import DeliveryState
    from ads.demo import demo_inventory
    from ads.selector import AdEngine
    from services.protocols.openrtb import BidRequest, to_ad_request

    docs = demo_inventory(time.time() // DAY * DAY, budget_scale=budget_scale)
    bodies = [openrtb_body(r) for r in requests]
    backends = ("sqlite", "postgres")
    with tempfile.TemporaryDirectory(prefix="marquee-ads-bench-") as tmp, ExitStack() as stack:
        pg_url = stack.enter_context(postgres_schema(database_url))
        clients, startup_s = {}, {}
        for name, url in (("sqlite", None), ("postgres", pg_url)):
            clients[name], startup_s[name] = _served_app(stack, Path(tmp), name, url, docs, model, catalog_dir,
                                                         index_dir)  # fmt: skip
        engines = {name: c.app.state.resources.peek("ads").engine for name, c in clients.items()}
        app_engine = engines["sqlite"]
        engines = {"in_memory": AdEngine(app_engine.inventory, model=app_engine.model, features=app_engine.features,
                                         profiles=app_engine.profiles, delivery=DeliveryState()), **engines}  # fmt: skip
        status = clients["sqlite"].get("/v1/ads/status", headers={"X-API-Key": "demo-admin-key"}).json()
        headers = {"X-API-Key": "demo-decide-key"}
        http_s: dict[str, list[float]] = {b: [] for b in backends}
        noop_s: list[float] = []
        codes: dict[str, dict[int, int]] = {b: {200: 0, 204: 0} for b in backends}
        for i in range(n + 50):
            body = bodies[i % len(bodies)]
            for backend in backends[i % 2:] + backends[: i % 2]:
                t0 = time.perf_counter()
                response = clients[backend].post("/v1/ads/openrtb", json=body | {"id": f"{body['id']}-{i}"},
                                                 headers=headers)  # fmt: skip
                elapsed = time.perf_counter() - t0
                if response.status_code not in (200, 204):
                    raise RuntimeError(f"openrtb on {backend} answered {response.status_code}: {response.text[:300]}")
                if i >= 50:  # warm-up excluded
                    http_s[backend].append(elapsed)
                    codes[backend][response.status_code] += 1
            t0 = time.perf_counter()
            clients["sqlite"].get("/v1/noop")
            if i >= 50:
                noop_s.append(time.perf_counter() - t0)
        # the decision alone: each engine decides the same requests, interleaved (order rotated)
        ad_requests = [to_ad_request(BidRequest.model_validate(bodies[i % len(bodies)]), now=time.time())
                       for i in range(n)]  # fmt: skip
        names = list(engines)
        decide_s: dict[str, list[float]] = {name: [] for name in names}
        filled: dict[str, int] = dict.fromkeys(names, 0)
        for i, ad_request in enumerate(ad_requests):
            for name in names[i % 3:] + names[: i % 3]:
                t0 = time.perf_counter()
                decision = engines[name].decide(ad_request)
                decide_s[name].append(time.perf_counter() - t0)
                filled[name] += decision.filled
        throughput = {name: {f"threads_{t}": round(_decisions_per_s(engines[name], ad_requests[: n // 2], t), 1)
                             for t in (1, 4)} for name in names}  # fmt: skip
    for backend in backends:
        if codes[backend][200] < n // 2:
            raise RuntimeError(f"only {codes[backend][200]} of {n} latency requests were filled on {backend}: the "
                               "measurement would not exercise selection (is the inventory live?)")  # fmt: skip
    return {"openrtb_http": {b: percentiles(http_s[b]) for b in backends}, "noop": percentiles(noop_s),
            "engine_decide_in_process": {name: percentiles(v) for name, v in decide_s.items()},
            "engine_decisions_per_s": throughput, "engine_filled_share": {k: round(v / n, 3) for k, v in filled.items()},
            "responses": {b: {str(k): v for k, v in codes[b].items()} for b in backends},
            "app_startup_s": {k: round(v, 1) for k, v in startup_s.items()},
            "features": status["features"], "model": status["model"],
            "postgres": "fresh schema on the `make postgres` server (same machine, 127.0.0.1)"}  # fmt: skip


def measure_reservations(database_url: str, seconds: float, tmp: Path) -> dict[str, Any]:
    """Reservations/s of ``SqlAdStore.reserve`` under concurrency, SQLite and PostgreSQL in one run.

    Each case: ``threads`` threads of this process reserve for ``seconds`` on one store (a pool of
    connections on PostgreSQL; SQLite serialises writers on the file), every call one real
    reservation transaction (line item row locked, budget and caps checked, row inserted) with a
    per-day cap (the exposure query runs) and unique impression ids; ``spread``: 1,000 line items
    drawn at random (little lock contention), ``hot``: one line item (every reservation waits on its
    row lock). Reservations are not released (no tracking), so a hot line item's live set grows
    through the case. The client runs in one Python process (GIL) on the same 2 cores as the server."""
    from data.ads_store import CapLimits, open_ad_store

    out: dict[str, Any] = {}
    with ExitStack() as stack:
        targets = {"sqlite": tmp / "reservations.db", "postgres": stack.enter_context(postgres_schema(database_url))}
        stores = {name: open_ad_store(target, max_connections=32) for name, target in targets.items()}
        try:
            for pattern, line_items in (("spread", [f"li-{k}" for k in range(1_000)]), ("hot", ["li-hot"])):
                for threads in (1, 4, 16):
                    for name, store in stores.items():  # back ends alternate within each case
                        run = secrets.token_hex(4)
                        stop = time.perf_counter() + seconds

                        def work(k: int, store: Any = store, run: str = run, stop: float = stop,
                                 line_items: list[str] = line_items) -> tuple[list[float], int]:  # fmt: skip
                            rng = random.Random(k)
                            latencies, refused = [], 0
                            while time.perf_counter() < stop:
                                t0 = time.perf_counter()
                                ok = store.reserve(impression_id=f"{run}-{k}-{len(latencies)}",
                                                   line_item_id=rng.choice(line_items),
                                                   viewer_key=f"viewer-{rng.randrange(100_000)}", ts=time.time(),
                                                   spend=0.01, budget=1e12, caps=CapLimits(per_day=10), ttl_s=900.0)  # fmt: skip
                                latencies.append(time.perf_counter() - t0)
                                refused += not ok
                            return latencies, refused

                        started = time.perf_counter()
                        with ThreadPoolExecutor(threads) as pool:
                            results = list(pool.map(work, range(threads)))
                        elapsed = time.perf_counter() - started
                        latencies = [x for lat, _ in results for x in lat]
                        out[f"{name}/{pattern}/threads_{threads}"] = {
                            "reservations_per_s": round(len(latencies) / elapsed, 1),
                            "refused": sum(r for _, r in results), "latency": percentiles(latencies),
                            "load_average_1m": round(os.getloadavg()[0], 2)}  # fmt: skip
                        log_line(f"reservations {name}/{pattern}/threads_{threads}: "
                                 f"{out[f'{name}/{pattern}/threads_{threads}']['reservations_per_s']}/s")  # fmt: skip
        finally:
            for store in stores.values():
                store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="three evaluated days (seeds) and 5,000 latency calls")
    parser.add_argument("--sessions", type=int, default=1_400, help="simulated viewing sessions per day")
    parser.add_argument("--latency-calls", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", default=os.environ.get("MARQUEE_BENCH_DATABASE_URL", DEFAULT_PG_URL),
                        help="PostgreSQL server for the PostgreSQL side (default: the `make postgres` server)")
    parser.add_argument("--reservation-seconds", type=float, default=None,
                        help="seconds per reservation-throughput case (default 2 quick, 5 full)")
    args = parser.parse_args()
    days = [args.seed, args.seed + 1, args.seed + 2] if args.full else [args.seed]
    latency_calls = args.latency_calls or (5_000 if args.full else 1_000)

    from ads.demo import demo_inventory
    from ads.inventory import Inventory
    from ads.pacing import PacingConfig
    from ads.response_model import ResponseModel
    from ads.selector import AdEngine, RandomEligibleSelector
    from ads.simulator import SimConfig, StaticFeatures, ViewerSimulator, simulate
    from ads.train import exploration_days, train_on_log
    from services.commands.ads import brief_encoder, simulation_features
    from services.settings import Settings

    settings = Settings()
    t_start = time.perf_counter()
    titles, profiles, has_embeddings = simulation_features(settings.catalog_dir, settings.index_dir)
    log_line(f"features: {len(titles)} titles, {len(profiles)} profiles, title embeddings: {has_embeddings} "
             f"({time.perf_counter() - t_start:.0f} s)")  # fmt: skip
    features = StaticFeatures(titles, profiles)

    def market(budget_scale: float) -> tuple[dict[str, list[dict[str, Any]]], Any]:
        docs = demo_inventory(DAY0, budget_scale=budget_scale, seed=args.seed)
        inv = Inventory.from_dicts(docs["advertisers"], docs["campaigns"], docs["line_items"], docs["creatives"])
        return docs, inv

    docs, inventory = market(MARKETS["balanced"])
    brief_vectors: dict[str, Any] = {}
    if has_embeddings and inventory.briefs():
        briefs = inventory.briefs()
        brief_vectors = dict(zip(briefs, brief_encoder(settings)(list(briefs.values())), strict=True))

    # the response model and yesterday's traffic shape, from three other days of exploration traffic
    t0 = time.perf_counter()
    inv = inventory.with_brief_embeddings(brief_vectors) if brief_vectors else inventory
    log, hours = exploration_days(inv, features, day_start=DAY0, sessions=args.sessions,
                                  seeds=[args.seed + 100 + k for k in range(TRAINING_DAYS)])  # fmt: skip
    model, report = train_on_log(log, seed=args.seed)
    shape = tuple(float(h + 1) for h in hours)  # the traffic forecast: yesterday's requests by hour
    pacing = PacingConfig(hourly_shape=shape)
    training = {"days": TRAINING_DAYS, "rows": len(log.rows), "seconds": round(time.perf_counter() - t0, 1),
                **{head: {k: round(v, 4) for k, v in vars(r).items()} for head, r in report.items()}}  # fmt: skip
    log_line(f"model: {training}")

    results: dict[str, Any] = {}
    pacing_tables: dict[str, list[dict[str, Any]]] = {}
    requests_per_day = []
    for market_name, scale in MARKETS.items():
        _, inv = market(scale)
        if brief_vectors:
            inv = inv.with_brief_embeddings(brief_vectors)
        policies = {
            "engine": lambda inv=inv: AdEngine(inv, model=model, features=features, pacing=pacing, seed=args.seed),
            "engine_price_only": lambda inv=inv: AdEngine(inv, model=ResponseModel.prior(*model.base_rates),
                                                          features=features, pacing=pacing, seed=args.seed),
            "random_eligible": lambda inv=inv: RandomEligibleSelector(inv, model=model, features=features, pacing=pacing,
                                                                      seed=args.seed),
        }  # fmt: skip
        for day in days:
            sim = ViewerSimulator(titles, profiles, SimConfig(DAY0, sessions=args.sessions, seed=day), inventory=inv)
            requests = list(sim.traffic())
            requests_per_day.append(len(requests))
            log_line(f"{market_name} market (budget scale {scale}), day {day}: {len(requests)} break requests")
            for name, make in policies.items():
                t0 = time.perf_counter()
                served = simulate(make(), sim, requests, seed=day)
                key = f"{market_name}/{name}" + (f"/day{day}" if args.full else "")
                results[key], pacing_tables[key] = summarize(key, served, inv, time.perf_counter() - t0, shape)
            if market_name == "balanced" and day == days[0]:
                latency_requests = requests

    latency = measure_latency(latency_requests, LATENCY_BUDGET_SCALE, model, latency_calls, settings.catalog_dir,
                              settings.index_dir, args.database_url)  # fmt: skip
    log_line(f"latency: openrtb {latency['openrtb_http']} noop {latency['noop']} "
             f"decide {latency['engine_decide_in_process']}")  # fmt: skip
    reservation_seconds = args.reservation_seconds or (5.0 if args.full else 2.0)
    with tempfile.TemporaryDirectory(prefix="marquee-ads-reservations-") as tmp:
        reservations = measure_reservations(args.database_url, reservation_seconds, Path(tmp))

    def mean_of(market_name: str, policy: str, metric: str) -> float:
        values = [v[metric] for k, v in results.items() if k.startswith(f"{market_name}/{policy}")]
        return float(np.mean(values))

    ratios: dict[str, Any] = {}
    for market_name in MARKETS:
        for other in ("random_eligible", "engine_price_only"):
            ratios[f"{market_name}_revenue_engine_vs_{other}"] = round(
                mean_of(market_name, "engine", "revenue") / max(mean_of(market_name, other, "revenue"), 1e-9), 4)
        ratios[f"{market_name}_completion_engine_vs_random_eligible"] = round(
            mean_of(market_name, "engine", "completion_rate") / max(mean_of(market_name, "random_eligible", "completion_rate"), 1e-9), 4)
    for backend in ("sqlite", "postgres"):
        http = latency["openrtb_http"][backend]
        ratios[f"latency_p50_openrtb_{backend}_vs_noop"] = round(http["p50_ms"] / latency["noop"]["p50_ms"], 2)
        ratios[f"latency_p99_openrtb_{backend}_vs_noop"] = round(http["p99_ms"] / latency["noop"]["p99_ms"], 2)
    decide = latency["engine_decide_in_process"]
    for point in ("p50_ms", "p99_ms"):
        ratios[f"decide_{point[:3]}_postgres_vs_sqlite"] = round(decide["postgres"][point] / decide["sqlite"][point], 2)
        for backend in ("sqlite", "postgres"):
            ratios[f"decide_{point[:3]}_{backend}_vs_in_memory"] = round(
                decide[backend][point] / decide["in_memory"][point], 2)
    for threads in (1, 4, 16):
        for pattern in ("spread", "hot"):
            ratios[f"reservations_per_s_{pattern}_threads_{threads}_postgres_vs_sqlite"] = round(
                reservations[f"postgres/{pattern}/threads_{threads}"]["reservations_per_s"]
                / reservations[f"sqlite/{pattern}/threads_{threads}"]["reservations_per_s"], 3)
    ratios["violations_total_vs_limit_0"] = sum(
        r[k] for r in results.values() for k in ("frequency_cap_violations", "separation_violations", "kids_coppa_violations"))
    config = {"mode": "full" if args.full else "quick", "sessions_per_day": args.sessions, "days": days,
              "requests_per_day": requests_per_day, "seed": args.seed, "markets_budget_scale": MARKETS,
              "line_items": len(inventory.line_items), "title_embeddings": has_embeddings,
              "briefs_embedded": len(brief_vectors), "pacing_hourly_shape_from": "training days' requests by UTC hour",
              "latency_calls": latency_calls, "reservation_seconds_per_case": reservation_seconds,
              "load_average_1m_at_end": round(os.getloadavg()[0], 2), "day": "UTC day starting at unix 1780012800",
              "total_s": round(time.perf_counter() - t_start, 1)}  # fmt: skip
    results["training"] = training
    results["latency"] = latency
    results["reservations"] = reservations
    results["pacing_balanced_engine"] = pacing_tables[next(k for k in pacing_tables if k.startswith("balanced/engine"))]
    write_result("ads", config, results, ratios, hardware_info=hardware())


if __name__ == "__main__":
    main()
