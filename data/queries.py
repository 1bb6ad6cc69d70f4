"""The query-file format for evaluations, and the built-in query sets.

A query file is JSONL, one object per line::

    {"qid": "reddit-cggmzb", "query": "little girl turns out to be a robot", "lang": "en",
     "gold": [{"source": "imdb", "id": "tt0293416"}]}

``qid`` (unique string) and ``query`` (non-empty string) are required; ``lang`` (ISO 639-1) is
optional; ``gold`` is a list of source ids with ``source`` one of netflix | tmdb | movielens | imdb
(ids as the source writes them: ``s123``, ``603``, ``1``, ``tt0133093``). Blank lines are skipped.
Built-in sets are named ``reddit-tomt:<split>`` and ``trec-tot:<split>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from data.errors import QueryFileError

GOLD_SOURCES = ("netflix", "tmdb", "movielens", "imdb")


@dataclass(frozen=True)
class Query:
    """One evaluation query with its gold answers as canonical source ids (``imdb:tt0133093``)."""

    qid: str
    query: str
    lang: str | None = None
    gold: tuple[str, ...] = field(default_factory=tuple)


def canonical_source_id(source: str, value: object) -> str:
    """``("imdb", "tt0133093")`` -> ``"imdb:tt0133093"``; validates the source name."""
    if source not in GOLD_SOURCES:
        raise ValueError(f"unknown gold source {source!r}; expected one of {GOLD_SOURCES}")
    text = str(value).strip()
    if not text:
        raise ValueError(f"empty {source} id")
    return f"{source}:{text}"


def parse_query(obj: object, where: str) -> Query:
    """Validate one decoded JSONL object; raise QueryFileError naming ``where`` on any problem."""
    if not isinstance(obj, Mapping):
        raise QueryFileError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    qid, query = obj.get("qid"), obj.get("query")
    if not isinstance(qid, str | int) or str(qid).strip() == "":
        raise QueryFileError(f"{where}: 'qid' must be a non-empty string")
    if not isinstance(query, str) or not query.strip():
        raise QueryFileError(f"{where}: 'query' must be a non-empty string")
    lang = obj.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise QueryFileError(f"{where}: 'lang' must be a string when present")
    gold_raw = obj.get("gold", [])
    if not isinstance(gold_raw, list):
        raise QueryFileError(f"{where}: 'gold' must be a list of {{source, id}} objects")
    gold = []
    for item in gold_raw:
        if not isinstance(item, Mapping) or "source" not in item or "id" not in item:
            raise QueryFileError(f"{where}: each gold entry needs 'source' and 'id', got {item!r}")
        try:
            gold.append(canonical_source_id(str(item["source"]), item["id"]))
        except ValueError as exc:
            raise QueryFileError(f"{where}: {exc}") from exc
    return Query(str(qid), query.strip(), lang, tuple(gold))


def read_query_file(path: Path) -> list[Query]:
    """Read and validate a JSONL query file; duplicate qids are an error."""
    if not path.is_file():
        raise QueryFileError(f"{path}: no such query file")
    queries: list[Query] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise QueryFileError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from exc
            query = parse_query(obj, f"{path}:{line_no}")
            if query.qid in seen:
                raise QueryFileError(f"{path}:{line_no}: duplicate qid {query.qid!r}")
            seen.add(query.qid)
            queries.append(query)
    return queries


def write_query_file(path: Path, records: Iterable[Mapping[str, object]]) -> int:
    """Write records (qid, query, lang, gold) as JSONL, deterministically. Returns the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for rec in records:
            payload = {"qid": rec["qid"], "query": rec["query"], "lang": rec.get("lang"), "gold": rec["gold"]}
            handle.write(json.dumps(payload, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count


def builtin_query_path(catalog_dir: Path, name: str) -> Path:
    """``reddit-tomt:test`` -> ``<catalog>/queries/reddit-tomt_test.jsonl`` (built by ``marquee data build``)."""
    if ":" not in name:
        raise QueryFileError(f"{name!r} is not a built-in query set; expected e.g. 'reddit-tomt:test'")
    family, split = name.split(":", 1)
    path = catalog_dir / "queries" / f"{family}_{split}.jsonl"
    if not path.is_file():
        available = sorted(p.stem.replace("_", ":", 1) for p in (catalog_dir / "queries").glob("*.jsonl"))
        raise QueryFileError(f"unknown query set {name!r}; available: {available or 'none (run marquee data build)'}")
    return path
