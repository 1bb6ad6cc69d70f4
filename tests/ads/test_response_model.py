"""The response model: serving equals training, persistence, and learning a planted signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ads.errors import ModelFormatError
from ads.hashing import roc_auc, sigmoid
from ads.response_model import (
    CATEGORIES,
    HEADS,
    N_FEATURES,
    ModelCandidate,
    ModelContext,
    ResponseModel,
    design_matrix,
    train_response_model,
)
from data.normalize import GENRES

G = len(GENRES)


def contexts(rng: np.random.Generator, n: int) -> list[ModelContext]:
    out = []
    for _ in range(n):
        personalized = bool(rng.random() < 0.7)
        affinity = rng.dirichlet(np.ones(G) * 0.3).astype(np.float32) if personalized else np.zeros(G, np.float32)
        genres = (rng.random(G) < 0.08).astype(np.float32)
        out.append(ModelContext(int(rng.integers(0, 9)), int(rng.integers(0, 24)), personalized,
                                float(rng.uniform(0, 6)) if personalized else 0.0, affinity, genres))  # fmt: skip
    return out


def candidates(rng: np.random.Generator, n: int, categories: tuple[str, ...] = CATEGORIES) -> list[ModelCandidate]:
    return [ModelCandidate(f"li{i}", f"cr{i}", f"adv{i % 5}", str(rng.choice(categories)), int(rng.choice([6, 15, 30, 60])),
                           float(rng.uniform(0.6, 0.95)), float(rng.uniform(0.6, 0.95)), bool(rng.random() < 0.5))
            for i in range(n)]  # fmt: skip


def test_serving_logits_equal_the_training_design_matrix() -> None:
    rng = np.random.default_rng(0)
    model = ResponseModel(rng.normal(size=(N_FEATURES, 2)), np.array([0.7, 0.02]))
    cands = candidates(rng, 12)
    prepared = model.prepare(cands)
    sims = np.array([c.content_similarity for c in cands])
    vsims = np.array([c.viewer_similarity for c in cands])
    briefs = np.array([c.has_brief for c in cands])
    for ctx in contexts(rng, 6):
        fast = model.logits(ctx, prepared, sims, vsims, briefs, positions=6)
        rows = [(ctx, c, p) for c in cands for p in range(6)]
        slow = (design_matrix(rows) @ model.weights).reshape(len(cands), 6, 2)
        np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-9)


def test_the_prior_predicts_base_rates() -> None:
    rng = np.random.default_rng(1)
    model = ResponseModel.prior(0.65, 0.02)
    cands = candidates(rng, 4)
    p = model.predict(contexts(rng, 1)[0], model.prepare(cands), np.zeros(4), np.zeros(4), np.zeros(4, bool), 3)
    np.testing.assert_allclose(p[..., 0], 0.65)
    np.testing.assert_allclose(p[..., 1], 0.02)
    assert not model.trained


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = ResponseModel(np.random.default_rng(2).normal(size=(N_FEATURES, 2)), np.array([0.7, 0.01]),
                          metadata={"trained": True, "rows": 5})  # fmt: skip
    loaded = ResponseModel.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(loaded.weights, model.weights)
    assert loaded.metadata["rows"] == 5 and HEADS == ("complete", "click")


def test_a_model_of_another_layout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.npz"
    np.savez(path, weights=np.zeros((10, 2)), base_rates=np.zeros(2), meta=np.array('{"layout": {}}'))
    with pytest.raises(ModelFormatError, match="retrain"):
        ResponseModel.load(path)
    with pytest.raises(ModelFormatError, match="weights shape"):
        ResponseModel(np.zeros((10, 2)), np.zeros(2))


@pytest.mark.slow
def test_training_recovers_a_planted_affinity_by_category_effect() -> None:
    rng = np.random.default_rng(3)
    ctxs, cands = contexts(rng, 8000), candidates(rng, 30, ("IAB19", "IAB2", "IAB8", "IAB13"))
    sci = GENRES.index("sci-fi")
    rows, completed, clicked, truth = [], [], [], []
    for ctx in ctxs:
        cand = cands[int(rng.integers(len(cands)))]
        pos = int(rng.integers(0, 4))
        liked = 12.0 * ctx.genre_affinity[sci] if cand.category == "IAB19" else 0.0  # sci-fi fans like tech ads
        z = 0.5 + liked - 0.4 * pos - 0.03 * (cand.duration_s - 15)
        rows.append((ctx, cand, pos))
        truth.append(sigmoid(z))
        completed.append(int(rng.random() < sigmoid(z)))
        clicked.append(int(rng.random() < sigmoid(-4 + liked)))
    train, test = slice(0, 6000), slice(6000, 8000)
    model = train_response_model(rows[train], np.array(completed[train]), np.array(clicked[train]))
    p = sigmoid(design_matrix(rows[test]) @ model.weights)
    oracle = roc_auc(np.array(completed[test]), np.array(truth[test]))
    assert roc_auc(np.array(completed[test]), p[:, 0]) > oracle - 0.03  # close to the true probabilities
    assert roc_auc(np.array(completed[test]), p[:, 0]) > 0.6
    assert model.trained and model.base_rates[0] == pytest.approx(np.mean(completed[train]))
