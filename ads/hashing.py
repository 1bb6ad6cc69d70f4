"""The hashing trick and a small L2-regularized logistic regression (numpy + scipy L-BFGS).

Categorical tokens (``"C5=25c83c98"``, ``"cr:creative-17"``) map to ``buckets`` columns through a
stable 32-bit hash (CRC-32, identical across processes and platforms, unlike ``hash()``), with a
sign bit so collisions cancel in expectation (Weinberger et al. 2009). The Criteo and Avazu row
tokenizers exist so the hashing path is exercised on real CTR schemas (tests only: the samples have
no join to Marquee's data).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import scipy.optimize
import scipy.sparse as sp


def hash_token(token: str, buckets: int) -> tuple[int, float]:
    """(column, sign) of ``token`` in a space of ``buckets`` columns."""
    h = zlib.crc32(token.encode("utf-8"))
    return h % buckets, (1.0 if (h >> 31) & 1 == 0 else -1.0)


def hashed_matrix(token_lists: Sequence[Sequence[str]], buckets: int) -> sp.csr_matrix:
    """(n, buckets) float32 CSR: row i holds the signed one-hot hashes of ``token_lists[i]``
    (duplicate columns within a row are summed)."""
    indptr = [0]
    cols: list[int] = []
    vals: list[float] = []
    for tokens in token_lists:
        for t in tokens:
            c, s = hash_token(t, buckets)
            cols.append(c)
            vals.append(s)
        indptr.append(len(cols))
    m = sp.csr_matrix((np.array(vals, np.float32), np.array(cols, np.int64), np.array(indptr, np.int64)),
                      shape=(len(token_lists), buckets))  # fmt: skip
    m.sum_duplicates()
    return m


def _bucket_count(value: str) -> str:
    """Criteo integer feature -> a discrete bucket (the 2014 winning solution's log² binning)."""
    v = float(value)
    return str(int(v)) if v <= 2 else str(int(math.log(v) ** 2))


def criteo_tokens(row: Mapping[str, str]) -> tuple[int, list[str]]:
    """(label, tokens) of a Criteo DAC row: 'I1'..'I13' binned counts, 'C1'..'C26' hashed categoricals;
    blanks become '<col>=NA'. ValueError when the row lacks the Criteo columns."""
    missing = [c for c in ("label", "I1", "C1", "C26") if c not in row]
    if missing:
        raise ValueError(f"row lacks Criteo columns {missing}: expected label, I1..I13, C1..C26")
    tokens = []
    for i in range(1, 14):
        value = (row.get(f"I{i}") or "").strip()
        tokens.append(f"I{i}={_bucket_count(value) if value else 'NA'}")
    for i in range(1, 27):
        value = (row.get(f"C{i}") or "").strip()
        tokens.append(f"C{i}={value or 'NA'}")
    return int(float(row["label"])), tokens


def avazu_tokens(row: Mapping[str, str]) -> tuple[int, list[str]]:
    """(label, tokens) of an Avazu row: every column but id/click as 'col=value', and the hour
    (YYMMDDHH) split into hour of day and weekday. ValueError when the row lacks the Avazu columns."""
    missing = [c for c in ("click", "hour", "device_type") if c not in row]
    if missing:
        raise ValueError(f"row lacks Avazu columns {missing}: expected id, click, hour, ...")
    hour = str(row["hour"]).strip()
    if len(hour) != 8 or not hour.isdigit():
        raise ValueError(f"hour={hour!r}: expected YYMMDDHH")
    import datetime as _dt

    day = _dt.date(2000 + int(hour[:2]), int(hour[2:4]), int(hour[4:6]))
    tokens = [f"hour_of_day={hour[6:]}", f"weekday={day.weekday()}"]
    tokens += [f"{k}={v}" for k, v in row.items() if k not in ("id", "click", "hour")]
    return int(row["click"]), tokens


def fit_logistic(x: sp.csr_matrix | np.ndarray, y: np.ndarray, *, l2: float = 1e-4,
                 sample_weight: np.ndarray | None = None, max_iter: int = 100) -> np.ndarray:  # fmt: skip
    """Weights (m,) minimizing mean log loss + ``l2``/2 ‖w‖² for (n, m) ``x`` (include a bias column
    yourself; it is regularized like the rest) and labels ``y`` (n,) in {0, 1}."""
    x = sp.csr_matrix(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    weight = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total = float(weight.sum())
    if x.shape[0] != len(y):
        raise ValueError(f"x has {x.shape[0]} rows and y {len(y)} labels: expected the same number")

    def loss_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        # log(1 + e^z) - y z, computed stably
        loss = float(weight @ (np.logaddexp(0.0, z) - y * z)) / total + 0.5 * l2 * float(w @ w)
        p = 0.5 * (1.0 + np.tanh(0.5 * z))
        grad = x.T @ (weight * (p - y)) / total + l2 * w
        return loss, np.asarray(grad).ravel()

    result = scipy.optimize.minimize(loss_grad, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B",
                                     options={"maxiter": max_iter})  # fmt: skip
    return np.asarray(result.x, dtype=np.float64)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(y, dtype=np.float64)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve by ranks (ties averaged); NaN when only one class is present."""
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def token_rows(rows: Iterable[tuple[int, list[str]]]) -> tuple[np.ndarray, list[list[str]]]:
    """Split (label, tokens) pairs into (labels (n,), token lists)."""
    labels, tokens = [], []
    for label, toks in rows:
        labels.append(label)
        tokens.append(toks)
    return np.array(labels, dtype=np.int64), tokens
