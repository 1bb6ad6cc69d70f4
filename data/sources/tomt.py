"""Tip-of-the-tongue query sets: Reddit-TOMT (WSDM 2022) and TREC ToT 2023/2024 movie queries.

Reddit gold answers are IMDb ids (``imdb_url``); TREC qrels are Wikipedia page ids, mapped to IMDb
through the bundled ``wikipage_id_to_imdb.json.zip`` (ids that are not ``tt`` title ids are
ignored). Splits are kept: reddit-tomt:{train,validation,test},
trec-tot:{2023-train,2023-test,2024-train,2024-test-partial}.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd

from data.errors import SourceFileError
from data.normalize import clean_text
from data.quarantine import Quarantine
from data.sources._files import SourceInfo, read_zip_member, require_file, text_stream

INFO_REDDIT = SourceInfo(
    name="reddit-tomt",
    folder="reddit-tomt",
    origin="https://github.com/samarthbhargav/tomt-data (trec_dataset.zip, data_release/wikipage_id_to_imdb.json.zip)",
    terms="Repository MIT (c) 2021 Samarth Bhargav; query texts are Reddit posts (Reddit's terms). Cite WSDM 2022.",
)
INFO_TREC = SourceInfo(
    name="trec-tot",
    folder="trec-tot",
    origin="https://trec-tot.github.io (mirror: vlcfaria/tip-of-the-tongue queries/)",
    terms="2023 queries from MS-ToT (CC BY-SA 4.0); no terms stated in the mirror.",
)
REDDIT_SPLITS = ("train", "validation", "test")
TREC_SPLITS = {"2023-train": "2023/train", "2023-test": "2023/test", "2024-train": "2024/train",
               "2024-test-partial": "2024/test-partial"}  # fmt: skip
_IMDB = re.compile(r"(tt\d{7,8})")
_TAGS = re.compile(r"^\s*(\[[^\]]*\]\s*)+")


def _query_text(title: str, body: str) -> str:
    title = _TAGS.sub("", title)
    return clean_text(html.unescape(f"{title}. {body}" if body else title))


def load_reddit(data_dir: Path, split: str, quarantine: Quarantine) -> pd.DataFrame:
    """One split of Reddit-TOMT movies: qid, query, gold (list of {"source","id"})."""
    if split not in REDDIT_SPLITS:
        raise ValueError(f"unknown reddit-tomt split {split!r}; expected one of {REDDIT_SPLITS}")
    path = data_dir / INFO_REDDIT.folder / "trec_dataset.zip"
    member = f"trec_dataset/Movies/{split}.jsonl"
    stream = text_stream(read_zip_member(path, member, INFO_REDDIT.origin), path, INFO_REDDIT.origin)
    records = []
    for line_no, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            imdb = _IMDB.search(obj.get("imdb_url") or "")
            query = _query_text(obj.get("title") or "", obj.get("text") or "")
            qid = str(obj["id"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            quarantine.add(f"{INFO_REDDIT.name}/{split}", f"line {line_no}", f"bad JSON record: {exc}", line)
            continue
        if not imdb or not query:
            quarantine.add(f"{INFO_REDDIT.name}/{split}", f"line {line_no}", "no IMDb gold id or empty query", line)
            continue
        records.append({"qid": f"reddit-{qid}", "query": query, "lang": "en",
                        "gold": [{"source": "imdb", "id": imdb.group(1)}]})  # fmt: skip
    return pd.DataFrame.from_records(records, columns=["qid", "query", "lang", "gold"])


def load_wikipage_map(data_dir: Path) -> dict[str, list[str]]:
    """Wikipedia page id -> IMDb title ids (``tt...`` only)."""
    path = data_dir / INFO_REDDIT.folder / "wikipage_id_to_imdb.json.zip"
    payload = read_zip_member(path, "wikipage_id_to_imdb.json", INFO_REDDIT.origin)
    try:
        raw = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise SourceFileError(path, f"wikipage_id_to_imdb.json is not JSON ({exc})", origin=INFO_REDDIT.origin) from exc
    return {str(k): [i for i in v if str(i).startswith("tt")] for k, v in raw.items()}


def load_trec(data_dir: Path, split: str, quarantine: Quarantine,
              wikipage_map: dict[str, list[str]] | None = None) -> pd.DataFrame:  # fmt: skip
    """One TREC ToT split: qid, query, gold (IMDb ids through the page-id map)."""
    if split not in TREC_SPLITS:
        raise ValueError(f"unknown trec-tot split {split!r}; expected one of {tuple(TREC_SPLITS)}")
    folder = data_dir / INFO_TREC.folder / "queries" / TREC_SPLITS[split]
    qpath = require_file(folder / "queries.jsonl", "JSONL with query_id and query", INFO_TREC.origin)
    rpath = require_file(folder / "qrel.txt", "TREC qrels: query_id 0 wikipedia_page_id 1", INFO_TREC.origin)
    mapping = wikipage_map if wikipage_map is not None else load_wikipage_map(data_dir)
    qrels: dict[str, list[str]] = {}
    for line_no, line in enumerate(rpath.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if len(parts) != 4:
            quarantine.add(f"{INFO_TREC.name}/{split}/qrel", f"line {line_no}", "expected 4 fields", line)
            continue
        if parts[3] != "0":
            qrels.setdefault(parts[0], []).append(parts[2])
    records = []
    for line_no, line in enumerate(qpath.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            qid, query = str(obj["query_id"]), clean_text(obj["query"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            quarantine.add(f"{INFO_TREC.name}/{split}", f"line {line_no}", f"bad JSON record: {exc}", line)
            continue
        gold = [{"source": "imdb", "id": tt} for page in qrels.get(qid, []) for tt in mapping.get(page, [])]
        records.append({"qid": f"trec-{split}-{qid}", "query": query, "lang": "en", "gold": gold})
    return pd.DataFrame.from_records(records, columns=["qid", "query", "lang", "gold"])
