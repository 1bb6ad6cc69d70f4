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
4. Latency: ``POST /v1/ads/openrtb`` through the real app (live event store and FeatureStore, the
   trained model, the demo inventory in SQLite) interleaved with ``GET /v1/noop``, in-process
   (``TestClient``), p50/p99 and the ratios.

Violation counts are recomputed from the served log, independently of the selector's own checks.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import hardware, percentiles, write_result  # noqa: E402

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


def measure_latency(requests: list[Any], budget_scale: float, model: Any, n: int, catalog_dir: Path,
                    index_dir: Path) -> dict[str, Any]:  # fmt: skip
    """p50/p99 of POST /v1/ads/openrtb vs GET /v1/noop through the app (interleaved, in-process).

    The app decides at wall-clock time, so its demo inventory's flights start today (UTC), with
    budgets large enough that replaying the sample requests for minutes never exhausts them (the
    latency of a decision, not of an empty inventory, is measured)."""
    from ads.demo import demo_inventory

    docs = demo_inventory(time.time() // DAY * DAY, budget_scale=budget_scale)
    from fastapi.testclient import TestClient

    from data.ads_store import open_ad_store
    from services.app import create_app
    from services.routers.ads import MODEL_FILE
    from services.settings import Settings

    with tempfile.TemporaryDirectory(prefix="marquee-ads-bench-") as tmp:
        artifacts = Path(tmp) / "artifacts"
        artifacts.mkdir()
        os.symlink(catalog_dir, artifacts / "catalog")
        if index_dir.is_dir():
            os.symlink(index_dir, artifacts / "index")
        settings = Settings(artifacts_dir=artifacts)
        store = open_ad_store(settings.ads_db_path)
        for kind, group in (("advertiser", "advertisers"), ("campaign", "campaigns"), ("creative", "creatives"),
                            ("line_item", "line_items")):  # fmt: skip
            store.put_many((kind, d) for d in docs[group])
        store.close()
        model.save(settings.models_dir / MODEL_FILE)
        started = time.perf_counter()
        with TestClient(create_app(settings, areas=("ads",))) as client:
            startup_s = time.perf_counter() - started
            headers = {"X-API-Key": "demo-decide-key"}
            status = client.get("/v1/ads/status", headers={"X-API-Key": "demo-admin-key"}).json()
            bodies = [openrtb_body(r) for r in requests]
            decide_s, noop_s, codes = [], [], {200: 0, 204: 0}
            for i in range(n + 50):
                body = bodies[i % len(bodies)]
                body = body | {"id": f"{body['id']}-{i}"}
                t0 = time.perf_counter()
                response = client.post("/v1/ads/openrtb", json=body, headers=headers)
                t1 = time.perf_counter()
                client.get("/v1/noop")
                t2 = time.perf_counter()
                if response.status_code not in (200, 204):
                    raise RuntimeError(f"openrtb answered {response.status_code}: {response.text[:300]}")
                if i >= 50:  # warm-up excluded
                    decide_s.append(t1 - t0)
                    noop_s.append(t2 - t1)
                    codes[response.status_code] += 1
            # the decision alone (no HTTP, JSON or VAST): the engine the endpoint calls, same requests
            from services.protocols.openrtb import BidRequest, to_ad_request

            engine = client.app.state.resources.peek("ads").engine  # type: ignore[attr-defined]
            engine_s = []
            for i in range(n):
                ad_request = to_ad_request(BidRequest.model_validate(bodies[i % len(bodies)]), now=time.time())
                t0 = time.perf_counter()
                engine.decide(ad_request)
                engine_s.append(time.perf_counter() - t0)
    if codes[200] < n // 2:
        raise RuntimeError(f"only {codes[200]} of {n} latency requests were filled: the measurement would not "
                           "exercise selection (is the inventory live?)")  # fmt: skip
    decide, noop = percentiles(decide_s), percentiles(noop_s)
    return {"openrtb": decide, "noop": noop, "engine_decide_in_process": percentiles(engine_s),
            "responses": {str(k): v for k, v in codes.items()},
            "app_startup_s": round(startup_s, 1), "features": status["features"], "model": status["model"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="three evaluated days (seeds) and 5,000 latency calls")
    parser.add_argument("--sessions", type=int, default=1_400, help="simulated viewing sessions per day")
    parser.add_argument("--latency-calls", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
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
                              settings.index_dir)  # fmt: skip
    log_line(f"latency: openrtb {latency['openrtb']} noop {latency['noop']}")

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
    ratios["latency_p50_openrtb_vs_noop"] = round(latency["openrtb"]["p50_ms"] / latency["noop"]["p50_ms"], 2)
    ratios["latency_p99_openrtb_vs_noop"] = round(latency["openrtb"]["p99_ms"] / latency["noop"]["p99_ms"], 2)
    ratios["violations_total_vs_limit_0"] = sum(
        r[k] for r in results.values() for k in ("frequency_cap_violations", "separation_violations", "kids_coppa_violations"))
    config = {"mode": "full" if args.full else "quick", "sessions_per_day": args.sessions, "days": days,
              "requests_per_day": requests_per_day, "seed": args.seed, "markets_budget_scale": MARKETS,
              "line_items": len(inventory.line_items), "title_embeddings": has_embeddings,
              "briefs_embedded": len(brief_vectors), "pacing_hourly_shape_from": "training days' requests by UTC hour",
              "latency_calls": latency_calls, "day": "UTC day starting at unix 1780012800",
              "total_s": round(time.perf_counter() - t_start, 1)}  # fmt: skip
    results["training"] = training
    results["latency"] = latency
    results["pacing_balanced_engine"] = pacing_tables[next(k for k in pacing_tables if k.startswith("balanced/engine"))]
    write_result("ads", config, results, ratios, hardware_info=hardware())


if __name__ == "__main__":
    main()
