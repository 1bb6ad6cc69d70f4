"""The hashing trick on the real Criteo and Avazu sample rows (parser fixtures only)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ads.hashing import (
    avazu_tokens,
    criteo_tokens,
    fit_logistic,
    hash_token,
    hashed_matrix,
    log_loss,
    roc_auc,
    sigmoid,
    token_rows,
)

pytestmark = pytest.mark.realdata


def rows(shared_data_dir: Path, name: str) -> list[dict[str, str]]:
    with (shared_data_dir / "ctr-samples" / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_hashes_are_stable_and_in_range() -> None:
    assert hash_token("C1=05db9164", 1 << 18) == hash_token("C1=05db9164", 1 << 18)
    columns = {hash_token(f"tok{i}", 64)[0] for i in range(2000)}
    assert columns == set(range(64))  # every bucket used, none outside
    signs = [hash_token(f"tok{i}", 64)[1] for i in range(2000)]
    assert 0.4 < np.mean(np.array(signs) > 0) < 0.6


def test_criteo_rows_become_39_tokens(shared_data_dir: Path) -> None:
    data = rows(shared_data_dir, "criteo_sample.txt")
    assert len(data) == 200
    labels, tokens = token_rows(criteo_tokens(r) for r in data)
    assert set(labels.tolist()) == {0, 1} and all(len(t) == 39 for t in tokens)
    first = tokens[0]
    assert first[0] == "I1=NA" and first[1] == f"I2={int(np.log(3.0) ** 2)}" and first[2] == f"I3={int(np.log(260.0) ** 2)}"
    assert "C1=05db9164" in first and first[-1] == "C26=NA"
    x = hashed_matrix(tokens, 1 << 12)
    assert x.shape == (200, 4096)
    assert np.all(np.abs(x).sum(axis=1) <= 39)


def test_avazu_rows_split_the_hour(shared_data_dir: Path) -> None:
    data = rows(shared_data_dir, "avazu_sample.txt")
    assert len(data) == 100
    labels, tokens = token_rows(avazu_tokens(r) for r in data)
    assert set(labels.tolist()) <= {0, 1}
    assert tokens[0][:2] == ["hour_of_day=00", "weekday=1"]  # 2014-10-21 was a Tuesday
    assert all(len(t) == len(data[0]) - 3 + 2 for t in tokens)
    assert not any(t.startswith(("id=", "click=")) for t in tokens[0])


def test_malformed_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="Criteo"):
        criteo_tokens({"label": "0"})
    with pytest.raises(ValueError, match="YYMMDDHH"):
        avazu_tokens({"click": "0", "hour": "yesterday", "device_type": "1"})


@pytest.mark.slow
def test_a_hashed_logistic_regression_fits_the_criteo_sample(shared_data_dir: Path) -> None:
    labels, tokens = token_rows(criteo_tokens(r) for r in rows(shared_data_dir, "criteo_sample.txt"))
    x = hashed_matrix([t + ["bias"] for t in tokens], 1 << 12)
    w = fit_logistic(x, labels, l2=1e-3)
    p = sigmoid(x @ w)
    assert log_loss(labels, p) < log_loss(labels, np.full(len(labels), labels.mean()))
    assert roc_auc(labels, p) > 0.9  # training fit: the parser and the fitter work together
