"""The Marquee ranking model: named sub-networks whose ``forward`` reads as a pipeline.

::

    titles ──TitleTower──► title vectors (N, D) ───────────────┐
    history ─gather──► (b, L, D) ─UserTower(+profile)─► (b, D) ─Interaction─► neural score (b, N)
    history (recency-weighted) ──ItemItem (closed-form B)────────────────────► item-item score (b, N)
    history embedding · content, affinities · genres/languages, popularity, trend ─► side scores
    context (task, source title / query vector) ──► context scores (b, N) ──┘ (inputs of the Head too)
                          all scores ‖ task ──Head──► final score (b, N)

* :class:`TitleTower` — learned id embedding (UNK for titles unseen in training, and randomly
  dropped in training so the other inputs carry signal) + projected content embedding + projected
  side features: a new title with no history still gets a vector (cold start).
* :class:`UserTower` — a small causal-free transformer (SASRec-like) over the last ``max_len``
  distinct titles (position = distance from the newest), read out at a profile token that also
  carries the profile's genre/language affinities and activity; empty histories are fine.
* :class:`ItemItem` — a full-rank title-to-title regression (EASE closed form, fitted by the trainer
  on the training histories) applied to the recency-weighted history, with a short and a long
  half-life (two head inputs): the strongest signal on MovieLens, made order-aware by the weights.
  A second matrix of the same shape, ``transition``, regresses what comes AFTER a cut on the
  recency-weighted history before it (SLIT-style, closed form): order-aware where EASE is not.
* :class:`Interaction` — dot product + per-title bias.
* :class:`Head` — a small MLP over the per-(profile, title) score vector and the task (one-hot), plus a
  per-task linear blend (a task embedding of the head's input weights).

**One model for every task** (the UniCoRn idea: the context is an input). A :class:`RankingContext`
names the task — :class:`Task` ``TOP_PICKS``, ``BECAUSE_YOU_WATCHED``, ``SIMILAR``, ``SEARCH`` — and its
context: the source title (BYW, similar) or the query vector (search: the mean content vector of the
result list). The context enters as head inputs computed against every bound title: ``context_neural``
(the context's tower vector · each title vector), ``context_content`` (context content vector · title
content), ``context_itemitem`` / ``context_transition`` (the source title's item-item and transition
rows) and ``context_genre`` (genre cosine); they are 0 for Top Picks. The same trained weights serve the
page's Top Picks and Because You Watched rows, ``similar`` and search re-ranking; the score is always a
log play-probability (:func:`log_probabilities`).

Models compute scores; losses live in ``ranking.train``. Inputs are built from
``features.ProfileFeatures`` by :func:`make_batch` (the same code in training and serving).

Shapes: ``b`` profiles, ``N`` bound titles (the titles scored), ``L`` = ``max_len``, ``D`` = ``dim``,
``c`` content dim, ``s`` side-feature dim, ``p`` profile dim, ``k`` item-item titles, ``F`` head inputs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from features.profiles import ProfileFeatures
from features.titles import TitleFeatures

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "HEAD_INPUTS",
    "TASKS",
    "RankingContext",
    "Task",
    "RankerBatch",
    "RankerFormatError",
    "RankerConfig",
    "TrainedRanker",
    "build_model",
    "fit_standardisation",
    "is_current_format",
    "log_probabilities",
    "make_batch",
    "probabilities",
]

HEAD_INPUTS: tuple[str, ...] = (
    "neural", "itemitem", "itemitem_long", "transition", "content", "genre", "language", "popularity", "trend", "has_id",
    "in_itemitem", "activity", "prior", "added",
    "context_neural", "context_content", "context_itemitem", "context_transition", "context_genre",
)  # fmt: skip
"""The per-(profile, title) scores the :class:`Head` combines, in column order (recorded in the artifact
manifest as ``head_inputs``: an artifact with other inputs is refused at load, see :class:`RankerFormatError`)."""


class Task(IntEnum):
    """What the one model is asked (its id is the head's task input)."""

    TOP_PICKS = 0
    """The viewer's next new title (the page's Top Picks and every row's model order)."""
    BECAUSE_YOU_WATCHED = 1
    """The viewer's next new title given a title they watched recently (the source)."""
    SIMILAR = 2
    """What a viewer who watches the source title also watches (``similar``; history optional)."""
    SEARCH = 3
    """The viewer's next new title among a query's results (the context is the query vector)."""


TASKS: tuple[str, ...] = tuple(t.name.lower() for t in Task)
"""Task names in id order (recorded in the manifest as ``tasks``)."""


@dataclass(frozen=True)
class RankingContext:
    """The task and its context for one profile.

    ``source_row``: the ``TitleFeatures`` row of the source title (BYW, similar), -1 for none;
    ``query_vector``: (c,) float32 unit content-space vector of the query (search), or None;
    ``query_genres``: (G,) float32 genre weights of the query (search), or None."""

    task: Task = Task.TOP_PICKS
    source_row: int = -1
    query_vector: np.ndarray | None = None
    query_genres: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.task in (Task.BECAUSE_YOU_WATCHED, Task.SIMILAR) and self.source_row < 0:
            raise ValueError(f"task {self.task.name} needs source_row >= 0; got {self.source_row}")
        if self.task == Task.SEARCH and self.query_vector is None:
            raise ValueError("task SEARCH needs a query_vector; got None")

    @classmethod
    def top_picks(cls) -> RankingContext:
        return cls(Task.TOP_PICKS)

    @classmethod
    def because_you_watched(cls, source_row: int) -> RankingContext:
        return cls(Task.BECAUSE_YOU_WATCHED, source_row=int(source_row))

    @classmethod
    def similar(cls, source_row: int) -> RankingContext:
        return cls(Task.SIMILAR, source_row=int(source_row))

    @classmethod
    def search(cls, query_vector: np.ndarray, query_genres: np.ndarray | None = None) -> RankingContext:
        return cls(Task.SEARCH, query_vector=np.asarray(query_vector, dtype=np.float32),
                   query_genres=None if query_genres is None else np.asarray(query_genres, dtype=np.float32))  # fmt: skip


RANKER_FORMAT = 2
"""Version of the weights' layout (``model_format`` in the manifest): 2 = the task-conditioned head."""


def is_current_format(manifest: dict[str, Any]) -> bool:
    """Whether an artifact manifest was written for this model's head inputs, tasks and weight layout (else
    it is refused at load with :class:`RankerFormatError`) and carries the per-task calibration
    (``task_temperature``) fitted after the last fit on the served titles (``calibration_titles``; earlier
    temperatures were fitted before the refit and left the top 10 over-confident); ``marquee train ranker
    --if-missing`` retrains an artifact that is not current. An artifact of this format without
    ``task_temperature`` still loads (temperature 1: the same order, uncalibrated probabilities), one with
    the earlier temperatures loads with them."""
    return (manifest.get("head_inputs") == list(HEAD_INPUTS) and manifest.get("tasks") == list(TASKS)
            and manifest.get("model_format") == RANKER_FORMAT
            and isinstance(manifest.get("task_temperature"), dict)
            and isinstance(manifest.get("calibration_titles"), int))  # fmt: skip


class RankerFormatError(ValueError):
    """A ranker artifact written for other head inputs or tasks (an older format): retrain it."""

    def __init__(self, directory: Path, found: Sequence[str] | None, what: str = "head inputs",
                 expected: Sequence[str] = HEAD_INPUTS) -> None:  # fmt: skip
        self.directory = directory
        self.found = list(found) if found is not None else None
        got = ", ".join(self.found) if self.found is not None else "none recorded"
        super().__init__(
            f"{directory}: ranker artifact has {what} [{got}]; expected [{', '.join(expected)}] "
            "(an older format: run `marquee train ranker` to retrain it)"
        )


def fit_standardisation(inputs: np.ndarray | Tensor) -> tuple[Tensor, Tensor]:
    """Per-column (mean, std) of (S, F) head inputs for ``(x - mean) / std``.

    A column that is constant in training (e.g. every training title has an id) gets ``std = inf``, so it
    standardises to exactly 0 whatever value it takes at serving time: dividing by a clamped ~0 std mapped
    an unseen value to about -1e6 and made the head's output explode (scores of 30,000 for every title
    without history)."""
    import torch

    flat = torch.as_tensor(inputs, dtype=torch.float32)
    flat = flat.reshape(-1, flat.shape[-1])
    mean = flat.mean(0)
    std = flat.std(0) if flat.shape[0] > 1 else torch.zeros_like(mean)
    scale = torch.clamp(mean.abs(), min=1.0)
    std = torch.where(std > 1e-6 * scale, std, torch.full_like(std, float("inf")))
    return mean, std


@dataclass(frozen=True)
class RankerConfig:
    """Shape and regularization of the model (stored in the artifact manifest)."""

    n_vocab: int
    """Titles with a learned id embedding (seen in training); id ``n_vocab`` is UNK."""
    content_dim: int = 384
    side_dim: int = 59
    profile_dim: int = 56
    dim: int = 64
    max_len: int = 50
    n_layers: int = 1
    n_heads: int = 2
    dropout: float = 0.2
    id_dropout: float = 0.25
    itemitem_half_life: float = 10.0
    itemitem_long_half_life: float = 100.0
    itemitem_max_history: int = 200
    head_hidden: int = 16
    n_tasks: int = len(Task)


@dataclass
class RankerBatch:
    """Model inputs for ``b`` profiles; positions index the bound titles (``-1`` = padding)."""

    sequence: Tensor  # (b, L) int64, newest last, left-padded with -1
    itemitem_rows: Tensor  # (e,) int64 batch row of each weighted history entry
    itemitem_positions: Tensor  # (e,) int64 bound-title position
    itemitem_weights: Tensor  # (e,) float32, normalised to sum 1 per profile
    itemitem_weights_long: Tensor  # (e,) float32, the same with the long half-life
    profile: Tensor  # (b, p) float32 genre affinity ‖ language affinity ‖ activity level
    history_embedding: Tensor  # (b, c) float32
    seen_rows: Tensor  # (f,) int64 batch row of each fed (seen) title
    seen_positions: Tensor  # (f,) int64 its bound position
    task: Tensor  # (b,) int64 Task id
    context_position: Tensor  # (b,) int64 bound position of the source title, -1 for none
    context_vector: Tensor  # (b, c) float32 source content vector / query vector, zeros for none
    context_genres: Tensor  # (b, G) float32 genre weights of the source / query, zeros for none

    @property
    def size(self) -> int:
        return int(self.sequence.shape[0])

    def seen_mask(self, n_titles: int) -> Tensor:
        """(b, N) bool, True where the profile has already watched the title, and at the context's source
        title (never its own answer)."""
        import torch

        mask = torch.zeros(self.size, n_titles, dtype=torch.bool, device=self.sequence.device)
        mask[self.seen_rows, self.seen_positions] = True
        source = self.context_position >= 0
        if source.any():
            mask[torch.nonzero(source).squeeze(1), self.context_position[source]] = True
        return mask

    def to(self, device: Any) -> RankerBatch:
        return RankerBatch(**{k: v.to(device) for k, v in vars(self).items()})


def distinct_recent(rows: np.ndarray) -> np.ndarray:
    """Distinct values of ``rows`` ordered by their LAST occurrence (oldest first), (k,) int64."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    reversed_rows = rows[::-1]
    _, first = np.unique(reversed_rows, return_index=True)
    keep = np.sort(first)
    return reversed_rows[keep][::-1].astype(np.int64)


def make_batch(
    profiles: Sequence[ProfileFeatures], position_of_row: np.ndarray, config: RankerConfig,
    contexts: Sequence[RankingContext] | None = None, titles: TitleFeatures | None = None,
) -> RankerBatch:  # fmt: skip
    """Build model inputs from profile features (training and serving share this function).

    ``position_of_row`` (n_catalog,) int64 maps a ``TitleFeatures`` row to its position among the
    bound titles, ``-1`` when the title is not scored (it then does not enter the model inputs).
    ``contexts``: one per profile (default: Top Picks); a source title's content vector and genres are
    read from ``titles`` (required when a context names a source).
    """
    import torch

    b, length = len(profiles), config.max_len
    sequence = np.full((b, length), -1, dtype=np.int64)
    ii_rows: list[np.ndarray] = []
    ii_pos: list[np.ndarray] = []
    ii_w: list[np.ndarray] = []
    ii_w_long: list[np.ndarray] = []
    seen_rows: list[np.ndarray] = []
    seen_pos: list[np.ndarray] = []
    profile_side = np.zeros((b, config.profile_dim), dtype=np.float32)
    content = np.zeros((b, config.content_dim), dtype=np.float32)
    for i, pf in enumerate(profiles):
        positions = position_of_row[pf.history] if len(pf.history) else np.zeros(0, dtype=np.int64)
        positions = distinct_recent(positions[positions >= 0])
        recent = positions[-length:]
        if len(recent):
            sequence[i, length - len(recent) :] = recent
        tail = positions[-config.itemitem_max_history :]
        if len(tail):
            age = np.arange(len(tail) - 1, -1, -1, dtype=np.float64)
            w = 0.5 ** (age / config.itemitem_half_life)
            w_long = 0.5 ** (age / config.itemitem_long_half_life)
            ii_rows.append(np.full(len(tail), i, dtype=np.int64))
            ii_pos.append(tail)
            ii_w.append((w / w.sum()).astype(np.float32))
            ii_w_long.append((w_long / w_long.sum()).astype(np.float32))
        seen_rows.append(np.full(len(positions), i, dtype=np.int64))
        seen_pos.append(positions)
        side = np.concatenate([pf.genre_affinity, pf.language_affinity, [pf.activity_level / 5.0]])
        profile_side[i, : min(len(side), config.profile_dim)] = side[: config.profile_dim]
        if len(pf.history_embedding) == config.content_dim:
            content[i] = pf.history_embedding

    def cat(parts: list[np.ndarray], dtype: Any) -> Tensor:
        return torch.from_numpy(np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype))

    n_genres = titles.genres.shape[1] if titles is not None else 0
    task = np.zeros(b, dtype=np.int64)
    context_position = np.full(b, -1, dtype=np.int64)
    context_vector = np.zeros((b, config.content_dim), dtype=np.float32)
    context_genres = np.zeros((b, n_genres), dtype=np.float32)
    for i, context in enumerate(contexts or ()):
        task[i] = int(context.task)
        if context.source_row >= 0:
            if titles is None:
                raise ValueError("make_batch: a context with a source title needs the bound TitleFeatures")
            context_position[i] = position_of_row[context.source_row]
            if titles.dim == config.content_dim:
                context_vector[i] = titles.embeddings[context.source_row]
            context_genres[i] = titles.genres[context.source_row]
        if context.query_vector is not None and len(context.query_vector) == config.content_dim:
            context_vector[i] = context.query_vector
        if context.query_genres is not None and len(context.query_genres) == n_genres:
            context_genres[i] = context.query_genres

    return RankerBatch(
        sequence=torch.from_numpy(sequence), itemitem_rows=cat(ii_rows, np.int64),
        itemitem_positions=cat(ii_pos, np.int64), itemitem_weights=cat(ii_w, np.float32),
        itemitem_weights_long=cat(ii_w_long, np.float32),
        profile=torch.from_numpy(profile_side), history_embedding=torch.from_numpy(content),
        seen_rows=cat(seen_rows, np.int64), seen_positions=cat(seen_pos, np.int64),
        task=torch.from_numpy(task), context_position=torch.from_numpy(context_position),
        context_vector=torch.from_numpy(context_vector), context_genres=torch.from_numpy(context_genres),
    )  # fmt: skip


# ------------------------------------------------------------------------------- the sub-networks


def _modules() -> dict[str, type]:
    """Define the torch modules lazily (torch is imported only when a model is built)."""
    import torch
    from torch import nn

    class TitleTower(nn.Module):
        """(N,) vocab ids, (N, c) content, (N, s) side features -> (N, D) title vectors."""

        def __init__(self, config: RankerConfig) -> None:
            super().__init__()
            self.unk = config.n_vocab
            self.id_dropout = config.id_dropout
            self.ids = nn.Embedding(config.n_vocab + 1, config.dim, padding_idx=config.n_vocab)
            nn.init.normal_(self.ids.weight, std=0.01)
            with torch.no_grad():
                self.ids.weight[config.n_vocab].zero_()
            self.content = nn.Linear(config.content_dim, config.dim, bias=False)
            self.side = nn.Linear(config.side_dim, config.dim)
            self.norm = nn.LayerNorm(config.dim)

        def forward(self, vocab_ids: Tensor, content: Tensor, side: Tensor) -> Tensor:
            if self.training and self.id_dropout > 0:
                drop = torch.rand(vocab_ids.shape, device=vocab_ids.device) < self.id_dropout
                vocab_ids = torch.where(drop, torch.full_like(vocab_ids, self.unk), vocab_ids)
            return self.norm(self.ids(vocab_ids) + self.content(content) + self.side(side))

    class UserTower(nn.Module):
        """(b, L, D) history title vectors (+ padding mask) and (b, p) profile side -> (b, D)."""

        def __init__(self, config: RankerConfig) -> None:
            super().__init__()
            self.positions = nn.Embedding(config.max_len + 1, config.dim)
            self.profile = nn.Sequential(nn.Linear(config.profile_dim, config.dim), nn.GELU())
            self.token = nn.Parameter(torch.zeros(config.dim))
            layer = nn.TransformerEncoderLayer(config.dim, config.n_heads, dim_feedforward=2 * config.dim,
                                               dropout=config.dropout, batch_first=True, norm_first=True,
                                               activation="gelu")  # fmt: skip
            self.encoder = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
            self.out = nn.LayerNorm(config.dim)
            self.dropout = nn.Dropout(config.dropout)

        def forward(self, history: Tensor, padding: Tensor, profile: Tensor) -> Tensor:
            b, length, _ = history.shape
            distance = torch.arange(length, 0, -1, device=history.device)  # newest = 1
            x = history + self.positions(distance)[None]
            token = (self.token + self.profile(profile))[:, None, :]
            x = torch.cat([self.dropout(x), token], dim=1)
            mask = torch.cat([padding, torch.zeros(b, 1, dtype=torch.bool, device=padding.device)], dim=1)
            return self.out(self.encoder(x, src_key_padding_mask=mask)[:, -1])

    class ItemItem(nn.Module):
        """Weighted history (sparse, rows/positions/weights) -> (b, N) closed-form item-item scores."""

        weights: Tensor
        index: Tensor

        def __init__(self, weights: Tensor) -> None:
            super().__init__()
            self.register_buffer("weights", weights, persistent=False)  # (k, k), fitted by the trainer
            self.register_buffer("index", torch.zeros(0, dtype=torch.long), persistent=False)  # (N,) -> k or -1

        def forward(self, rows: Tensor, positions: Tensor, weights: Tensor, batch_size: int) -> Tensor:
            n = int(self.index.shape[0])
            k = int(self.weights.shape[0])
            out = torch.zeros(batch_size, n, device=weights.device)
            if k == 0 or rows.numel() == 0:
                return out
            cols = self.index[positions]
            keep = cols >= 0
            history = torch.sparse_coo_tensor(torch.stack([rows[keep], cols[keep]]), weights[keep],
                                              (batch_size, k), check_invariants=False).coalesce()  # fmt: skip
            scores = torch.sparse.mm(history, self.weights)  # (b, k)
            known = self.index >= 0
            out[:, known] = scores[:, self.index[known]]
            return out

    class Interaction(nn.Module):
        """(b, D) profiles x (N, D) titles -> (b, N) dot products + per-title bias."""

        def __init__(self, config: RankerConfig) -> None:
            super().__init__()
            self.bias = nn.Embedding(config.n_vocab + 1, 1)
            nn.init.zeros_(self.bias.weight)

        def forward(self, users: Tensor, titles: Tensor, vocab_ids: Tensor) -> Tensor:
            return users @ titles.T + self.bias(vocab_ids)[:, 0][None, :]

    class Head(nn.Module):
        """(b, N, F) score vector per pair and (b,) task ids -> (b, N): a linear blend whose input weights are
        the shared ones plus the task's own (a task embedding, zero at start), and a small MLP over the inputs
        concatenated with the task one-hot (computed as its first layer plus a per-task hidden bias, the same
        function without materialising the concatenation); divided by the task's ``temperature`` (a
        positive scale fitted after training so the log-softmax is calibrated: no order changes)."""

        temperature: Tensor

        def __init__(self, config: RankerConfig) -> None:
            super().__init__()
            f = len(HEAD_INPUTS)
            self.linear = nn.Linear(f, 1)
            self.task_weights = nn.Embedding(config.n_tasks, f)
            nn.init.zeros_(self.task_weights.weight)
            self.hidden = nn.Linear(f, config.head_hidden)
            self.task_hidden = nn.Embedding(config.n_tasks, config.head_hidden)  # the one-hot's columns
            nn.init.normal_(self.task_hidden.weight, std=0.1)
            self.out = nn.Linear(config.head_hidden, 1)
            # per-task temperature fitted after training (ranking.train.fit_temperatures); not in the state
            # dict: the manifest's ``task_temperature`` sets it at load (1 = uncalibrated)
            self.register_buffer("temperature", torch.ones(config.n_tasks), persistent=False)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
            with torch.no_grad():
                self.linear.weight.zero_()
                self.linear.weight[0, 0] = 1.0  # start as the neural score alone
                self.linear.bias.zero_()

        def forward(self, inputs: Tensor, task: Tensor) -> Tensor:
            weights = self.linear.weight + self.task_weights(task)  # (b, F)
            blend = torch.bmm(inputs, weights[:, :, None])[..., 0] + self.linear.bias
            hidden = torch.nn.functional.gelu(self.hidden(inputs) + self.task_hidden(task)[:, None, :])
            return (blend + self.out(hidden)[..., 0]) / self.temperature[task][:, None]

    class MarqueeRanker(nn.Module):
        """TitleTower + UserTower + Interaction + ItemItem + Head over the bound titles."""

        vocab_ids: Tensor
        content: Tensor
        content_rows: Tensor
        content_compact: Tensor
        side: Tensor
        genres: Tensor
        languages: Tensor
        popularity: Tensor
        trend: Tensor
        prior: Tensor
        added: Tensor
        input_mean: Tensor
        input_std: Tensor

        def __init__(self, config: RankerConfig, itemitem: Tensor | None = None,
                     transition: Tensor | None = None) -> None:  # fmt: skip
            super().__init__()
            self.config = config
            self.title_tower = TitleTower(config)
            self.user_tower = UserTower(config)
            self.interaction = Interaction(config)
            self.item_item = ItemItem(itemitem if itemitem is not None else torch.zeros(0, 0))
            self.transition = ItemItem(transition if transition is not None else torch.zeros(0, 0))
            self.head = Head(config)
            # per-input standardisation of the head inputs, set by the trainer (saved with the weights)
            self.register_buffer("input_mean", torch.zeros(len(HEAD_INPUTS)))
            self.register_buffer("input_std", torch.ones(len(HEAD_INPUTS)))
            for name in ("vocab_ids", "content", "side", "genres", "languages", "popularity", "trend",
                         "content_rows", "content_compact", "prior", "added"):  # fmt: skip
                self.register_buffer(name, torch.zeros(0), persistent=False)

        def bind_titles(self, vocab_ids: Tensor, content: Tensor, side: Tensor, genres: Tensor,
                        languages: Tensor, itemitem_index: Tensor, prior: Tensor | None = None,
                        added: Tensor | None = None) -> None:  # fmt: skip
            """Set the N titles to score: (N,) vocab ids, (N, c), (N, s), (N, G), (N, L), (N,) B index,
            (N,) catalog popularity prior and (N,) added recency (zeros when not given)."""
            n = int(vocab_ids.shape[0])
            self.prior = prior if prior is not None else torch.zeros(n)
            self.added = added if added is not None else torch.zeros(n)
            self.vocab_ids, self.content, self.side = vocab_ids, content, side
            # titles with a content vector: the only ones :meth:`content_scores` multiplies
            self.content_rows = torch.nonzero((content != 0).any(dim=1)).squeeze(1)
            self.content_compact = content[self.content_rows].contiguous()
            self.genres = genres / genres.sum(1, keepdim=True).clamp(min=1.0)
            self.languages = languages / languages.sum(1, keepdim=True).clamp(min=1.0)
            self.popularity, self.trend = side[:, 0], side[:, 1]
            self.item_item.index = itemitem_index
            self.transition.index = itemitem_index  # the same titles as the item-item matrix

        @property
        def n_titles(self) -> int:
            return int(self.vocab_ids.shape[0])

        def title_vectors(self) -> Tensor:
            return self.title_tower(self.vocab_ids, self.content, self.side)

        def components(self, batch: RankerBatch, title_vectors: Tensor | None = None,
                       parts: Sequence[str] = HEAD_INPUTS) -> dict[str, Tensor]:  # fmt: skip
            """The head inputs named in ``parts`` (default: all), each (b, N)."""
            b = batch.size
            out: dict[str, Tensor] = {}
            device = batch.sequence.device
            ones = torch.ones(b, 1, device=device)
            g, lang = self.genres.shape[1], self.languages.shape[1]
            with_context = bool((batch.task != int(Task.TOP_PICKS)).any())

            def zeros() -> Tensor:
                return torch.zeros(b, self.n_titles, device=device)

            for name in parts:
                if name == "neural":
                    titles = self.title_vectors() if title_vectors is None else title_vectors
                    padding = batch.sequence < 0
                    history = titles[batch.sequence.clamp(min=0)] * (~padding)[..., None]
                    users = self.user_tower(history, padding, batch.profile)
                    out[name] = self.interaction(users, titles, self.vocab_ids)
                elif name == "itemitem":
                    out[name] = self.item_item(batch.itemitem_rows, batch.itemitem_positions,
                                               batch.itemitem_weights, b)  # fmt: skip
                elif name == "itemitem_long":
                    out[name] = self.item_item(batch.itemitem_rows, batch.itemitem_positions,
                                               batch.itemitem_weights_long, b)  # fmt: skip
                elif name == "transition":
                    out[name] = self.transition(batch.itemitem_rows, batch.itemitem_positions,
                                                batch.itemitem_weights, b)  # fmt: skip
                elif name == "content":
                    out[name] = self.content_scores(batch.history_embedding)
                elif name == "genre":
                    out[name] = batch.profile[:, :g] @ self.genres.T
                elif name == "language":
                    out[name] = batch.profile[:, g : g + lang] @ self.languages.T
                elif name == "popularity":
                    out[name] = ones * self.popularity[None, :] / 5.0
                elif name == "trend":
                    out[name] = ones * torch.log1p(self.trend)[None, :]
                elif name == "has_id":
                    out[name] = ones * (self.vocab_ids < self.config.n_vocab).float()[None, :]
                elif name == "in_itemitem":
                    out[name] = ones * (self.item_item.index >= 0).float()[None, :]
                elif name == "activity":  # lets the head blend differently for short and long histories
                    out[name] = batch.profile[:, -1:].expand(b, self.n_titles)
                elif name == "prior":  # popularity without events (TMDB votes): the cold titles' popularity
                    out[name] = ones * self.prior[None, :]
                elif name == "added":  # how recently the catalog added the title (Netflix date_added)
                    out[name] = ones * self.added[None, :]
                elif name.startswith("context_"):
                    out[name] = self.context_scores(name, batch, title_vectors) if with_context else zeros()
                else:
                    raise ValueError(f"unknown head input {name!r}; expected one of {', '.join(HEAD_INPUTS)}")
            return out

        def context_scores(self, name: str, batch: RankerBatch, title_vectors: Tensor | None) -> Tensor:
            """(b, N) one context head input (see the module docstring); 0 for a profile without context."""
            b = batch.size
            device = batch.sequence.device
            source = batch.context_position
            has_source = source >= 0
            if name == "context_neural":
                titles = self.title_vectors() if title_vectors is None else title_vectors
                vectors = torch.zeros(b, titles.shape[1], device=device)
                vectors[has_source] = titles[source[has_source]]
                query = ~has_source & (batch.context_vector.abs().sum(1) > 0)
                if query.any():  # a query (or an unbound source): its content vector through the title tower
                    tower = self.title_tower
                    vectors[query] = tower.norm(tower.content(batch.context_vector[query]))
                return vectors @ titles.T
            if name == "context_content":
                return self.content_scores(batch.context_vector)
            if name in ("context_itemitem", "context_transition"):
                module = self.item_item if name == "context_itemitem" else self.transition
                rows = torch.arange(b, device=device)[has_source]
                return module(rows, source[has_source], torch.ones(len(rows), device=device), b)
            if name == "context_genre":
                weights = batch.context_genres
                if weights.shape[1] != self.genres.shape[1]:
                    return torch.zeros(b, self.n_titles, device=device)
                return (weights / weights.sum(1, keepdim=True).clamp(min=1.0)) @ self.genres.T
            raise ValueError(f"unknown context input {name!r}; expected one of {', '.join(HEAD_INPUTS)}")

        def content_scores(self, history_embedding: Tensor) -> Tensor:
            """(b, N) dot products of the history embeddings with the titles' content vectors.

            Only titles with a content vector (an embedding) are multiplied: in the served catalog 17,617 of
            53,094 titles have one, and the product over all rows (81 MB of float32 per page) was half of a
            page's model time (9.7 of 18 ms). The other rows are exact zeros either way."""
            content, rows = self.content, self.content_rows
            if rows.numel() == content.shape[0]:
                return history_embedding @ content.T
            out = history_embedding.new_zeros(history_embedding.shape[0], content.shape[0])
            out[:, rows] = history_embedding @ self.content_compact.T
            return out

        def forward(self, batch: RankerBatch, title_vectors: Tensor | None = None) -> Tensor:
            """(b, N) final scores (higher = better); watched titles are NOT masked here."""
            return self.head(self.head_inputs(self.components(batch, title_vectors)), batch.task)

        def head_inputs(self, parts: dict[str, Tensor]) -> Tensor:
            """(b, N, F) standardised head inputs from :meth:`components`."""
            inputs = torch.stack([parts[name] for name in HEAD_INPUTS], dim=-1)
            return (inputs - self.input_mean) / self.input_std

    return {"TitleTower": TitleTower, "UserTower": UserTower, "ItemItem": ItemItem, "Interaction": Interaction,
            "Head": Head, "MarqueeRanker": MarqueeRanker}  # fmt: skip


_MODULES: dict[str, type] | None = None


def modules() -> dict[str, type]:
    """The torch module classes by name (built on first use; importing this file stays light)."""
    global _MODULES
    if _MODULES is None:
        _MODULES = _modules()
    return _MODULES


def build_model(config: RankerConfig, itemitem: np.ndarray | None = None,
                transition: np.ndarray | None = None) -> Any:  # fmt: skip
    """A fresh :class:`MarqueeRanker` (``itemitem``/``transition``: (k, k) closed-form weights, or none)."""
    import torch

    def tensor(a: np.ndarray | None) -> Any:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) if a is not None else None

    return modules()["MarqueeRanker"](config, tensor(itemitem), tensor(transition))


# ------------------------------------------------------------------------------- serving wrapper


def log_probabilities(scores: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """(b, N) float32 log-softmax of ``scores`` over the titles not ``seen``, at most 0 (see
    :meth:`TrainedRanker.play_probability`); -inf where a score is not finite, or for a profile that has
    watched every bound title."""
    scores = np.asarray(scores, dtype=np.float64)
    out = np.full(scores.shape, -np.inf, dtype=np.float32)
    for i in range(len(scores)):
        unseen = ~np.asarray(seen[i], dtype=bool) & np.isfinite(scores[i])
        if not unseen.any():
            continue
        top = scores[i][unseen].max()
        log_norm = top + np.log(np.exp(scores[i][unseen] - top).sum())
        out[i] = np.minimum(0.0, scores[i] - log_norm)
    return out


def probabilities(scores: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """(b, N) float32 in [0, 1]: ``exp(log_probabilities(scores, seen))``."""
    return np.exp(log_probabilities(scores, seen)).astype(np.float32)


class TrainedRanker:
    """A trained model bound to a set of titles, with the vocabularies needed to save and reload it.

    ``vocab`` are the title ids with a learned id embedding (their order = embedding rows);
    ``itemitem_titles`` the title ids of the item-item matrix rows/columns.
    """

    def __init__(self, model: Any, vocab: list[str], itemitem_titles: list[str],
                 manifest: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.model: Any = model
        self.config: RankerConfig = model.config
        self.vocab = vocab
        self.itemitem_titles = itemitem_titles
        self.manifest = manifest or {}
        self.titles: TitleFeatures | None = None
        self.position_of_row = np.zeros(0, dtype=np.int64)
        self.bound_rows = np.zeros(0, dtype=np.int64)
        self._title_vectors: Tensor | None = None
        self._own = threading.local()  # per serving thread: (profile, its own head inputs), see _own_inputs

    # -------------------------------------------------------------- binding
    def bind(self, titles: TitleFeatures, rows: np.ndarray | None = None, *,
             as_new: Collection[str] = ()) -> TrainedRanker:  # fmt: skip
        """Score the ``rows`` of ``titles`` (default: every title). Cheap; call again after a refresh.

        ``as_new``: title ids to treat as brand-new (no learned id, no item-item row, no events) —
        how a title added after training is scored; used to measure cold-start ranking offline.
        """
        import torch

        rows = np.arange(len(titles), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        new = set(as_new)
        vocab_index = {t: i for i, t in enumerate(self.vocab) if t not in new}
        ii_index = {t: i for i, t in enumerate(self.itemitem_titles) if t not in new}
        ids = [titles.title_ids[r] for r in rows]
        vocab_ids = np.array([vocab_index.get(t, self.config.n_vocab) for t in ids], dtype=np.int64)
        ii = np.array([ii_index.get(t, -1) for t in ids], dtype=np.int64)
        content = titles.embeddings[rows] if titles.dim == self.config.content_dim else np.zeros(
            (len(rows), self.config.content_dim), dtype=np.float32)  # fmt: skip
        side = titles.numeric()[rows]
        if new:
            fresh = np.array([t in new for t in ids])
            side[fresh, 0] = 0.0  # popularity: no events yet
            side[fresh, 1] = np.log1p(1.0)  # trend: steady
        self.model.bind_titles(  # type: ignore[operator]
            torch.from_numpy(vocab_ids), torch.from_numpy(np.ascontiguousarray(content, dtype=np.float32)),
            torch.from_numpy(side), torch.from_numpy(titles.genres[rows]),
            torch.from_numpy(titles.languages[rows]), torch.from_numpy(ii),
            torch.from_numpy(np.ascontiguousarray(titles.catalog_prior[rows], dtype=np.float32)),
            torch.from_numpy(np.ascontiguousarray(titles.added_recency[rows], dtype=np.float32)),
        )  # fmt: skip
        self.titles = titles
        self.bound_rows = rows
        self.position_of_row = np.full(len(titles), -1, dtype=np.int64)
        self.position_of_row[rows] = np.arange(len(rows))
        self._title_vectors = None
        self._own = threading.local()  # inputs kept by _own_inputs belong to the previous binding
        return self

    def view(self) -> TrainedRanker:
        """Another binding of the same trained model: shares every weight (parameters, item-item and
        transition matrices) but binds its own titles, so one process can score different title sets (the
        page only its servable titles, search every title) without rebinding or copying the weights."""
        import copy

        model = copy.copy(self.model)
        model._buffers = dict(self.model._buffers)
        model._modules = dict(self.model._modules)
        for name in ("item_item", "transition"):  # their ``index`` buffer is per binding
            module = copy.copy(self.model._modules[name])
            module._buffers = dict(module._buffers)
            model._modules[name] = module
        return TrainedRanker(model, self.vocab, self.itemitem_titles, self.manifest)

    def batch(self, profiles: Sequence[ProfileFeatures],
              contexts: Sequence[RankingContext] | None = None) -> RankerBatch:  # fmt: skip
        return make_batch(profiles, self.position_of_row, self.config, contexts, self.titles)

    def scores_and_seen(self, profiles: Sequence[ProfileFeatures],
                        contexts: Sequence[RankingContext] | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """((b, N) float32 scores, (b, N) bool watched mask) over the bound titles; ``contexts`` one per
        profile (default: Top Picks). The mask also holds the context's source title."""
        import torch

        if self.titles is None:
            raise RuntimeError("TrainedRanker.score before bind(titles)")
        if contexts is not None and len(contexts) != len(profiles):
            raise ValueError(f"{len(contexts)} contexts for {len(profiles)} profiles; expected one per profile")
        self._eval()
        with torch.no_grad():
            if self._title_vectors is None:
                self._title_vectors = self.model.title_vectors()  # type: ignore[operator]
            batch = self.batch(profiles, contexts)
            scores = self.model(batch, self._title_vectors)
            seen = batch.seen_mask(scores.shape[1])
        return scores.numpy(), seen.numpy()

    def score(self, profiles: Sequence[ProfileFeatures], *, mask_seen: bool = True,
              contexts: Sequence[RankingContext] | None = None) -> np.ndarray:  # fmt: skip
        """(b, N) float32 scores over the bound titles (``bound_rows`` order); seen titles -inf when masked."""
        scores, seen = self.scores_and_seen(profiles, contexts)
        return np.where(seen, np.float32(-np.inf), scores) if mask_seen else scores

    def play_probability(self, profiles: Sequence[ProfileFeatures],
                         contexts: Sequence[RankingContext] | None = None) -> np.ndarray:  # fmt: skip
        """(b, N) float32 in [0, 1]: the probability that the profile's next new title is each bound title
        (given the task and context, when ``contexts`` are given).

        The softmax of the scores over the bound titles the profile has NOT watched (the training target:
        the head is fitted with the multinomial likelihood of what comes next, watched titles masked), so
        one profile's probabilities over unwatched titles sum to 1. A watched title gets
        ``min(1, exp(score - logsumexp(unwatched scores)))``: on the same scale, for the rewatch rows."""
        scores, seen = self.scores_and_seen(profiles, contexts)
        return probabilities(scores, seen)

    def log_probability_rows(self, profile: ProfileFeatures, contexts: Sequence[RankingContext]) -> np.ndarray:
        """(k, n) float32 log play-probabilities of one profile under ``k`` contexts over EVERY row of the
        bound ``TitleFeatures`` (-inf outside the bound rows): one model call for, e.g., a page's Because
        You Watched rows or one ``similar`` list."""
        if self.titles is None:
            raise RuntimeError("TrainedRanker.log_probability_rows before bind(titles)")
        out = np.full((len(contexts), len(self.titles)), -np.inf, dtype=np.float32)
        if not contexts:
            return out
        scores, seen = self.scores_and_seen([profile] * len(contexts), contexts)
        out[:, self.bound_rows] = log_probabilities(scores, seen)
        return out

    def _vectors(self) -> Tensor:
        if self._title_vectors is None:
            self._title_vectors = self.model.title_vectors()
        return self._title_vectors

    def _own_inputs(self, profile: ProfileFeatures) -> dict[str, Tensor]:
        """The profile's own (non-context) head inputs, (1, N) each, for one profile; each serving thread keeps
        its last profile's (by object identity: serving hands out one ``ProfileFeatures`` per profile state) so
        a page's :meth:`top_picks_scores` and :meth:`context_scores_at`, which run on one thread, compute them
        once. (One slot shared by every thread was overwritten by the other pages in flight at concurrency 8,
        and each page then computed them twice.)"""
        kept: tuple[ProfileFeatures, dict[str, Tensor]] | None = getattr(self._own, "kept", None)
        if kept is not None and kept[0] is profile:
            return kept[1]
        own = [name for name in HEAD_INPUTS if not name.startswith("context_")]
        parts = self.model.components(self.batch([profile]), self._vectors(), parts=own)
        self._own.kept = (profile, parts)
        return parts  # type: ignore[no-any-return]

    def _eval(self) -> Any:
        """The model in eval mode: ``Module.eval()`` sets the flag on every submodule through
        ``Module.__setattr__`` (about 2 ms of Python a call, two calls a page), so it runs only when a module is
        left in training mode (a trainer may leave only a submodule so, e.g. the head)."""
        if any(module.training for module in self.model.modules()):
            self.model.eval()
        return self.model

    def top_picks_scores(self, profile: ProfileFeatures) -> tuple[np.ndarray, np.ndarray]:
        """((N,) float32 scores, (N,) bool watched mask) of one profile for Top Picks: the same values as
        :meth:`scores_and_seen` ``([profile])[i][0]``, keeping the profile's head inputs for a following
        :meth:`context_scores_at` (the page scores Top Picks, then its Because You Watched pools)."""
        import torch

        if self.titles is None:
            raise RuntimeError("TrainedRanker.top_picks_scores before bind(titles)")
        model = self._eval()
        with torch.no_grad():
            parts = dict(self._own_inputs(profile))
            batch = self.batch([profile])
            for name in HEAD_INPUTS:
                if name.startswith("context_"):  # Top Picks has no context: these inputs are 0 (components())
                    parts[name] = torch.zeros(1, model.n_titles)
            scores = model.head(model.head_inputs(parts), batch.task)
            seen = batch.seen_mask(scores.shape[1])
        return scores[0].numpy(), seen[0].numpy()

    def context_scores_at(self, profile: ProfileFeatures, contexts: Sequence[RankingContext],
                          rows: Sequence[np.ndarray]) -> list[np.ndarray]:  # fmt: skip
        """One profile's raw scores (the head output, before the log-softmax) under each of ``k`` contexts,
        only for that context's ``rows`` of the bound ``TitleFeatures``: a list of (m_i,) float32 arrays, -inf
        for rows outside the bound ones. Same values as :meth:`score` with ``contexts`` at those rows, so the
        same order within each list (the log-softmax only shifts a context's scores; use
        :meth:`log_probability_rows` for probabilities).

        For the page's Because You Watched rows (one pool of a few hundred titles per evidence title): the
        profile's own head inputs are computed once (batch 1) instead of once per context, only the
        ``context_*`` inputs per context, and the head runs on the pools only — not on every bound title."""
        import torch

        if self.titles is None:
            raise RuntimeError("TrainedRanker.context_scores_at before bind(titles)")
        if len(rows) != len(contexts):
            raise ValueError(f"{len(rows)} row sets for {len(contexts)} contexts; expected one per context")
        if not contexts:
            return []
        model = self._eval()
        with torch.no_grad():
            vectors = self._vectors()
            parts = self._own_inputs(profile)  # each (1, N); kept from top_picks_scores of the same profile
            batch = self.batch([profile] * len(contexts), list(contexts))
            # each (k, N); context_content only at the rows (its full product is a pass over every content vector)
            in_context = {name: model.context_scores(name, batch, vectors)
                          for name in HEAD_INPUTS if name.startswith("context_") and name != "context_content"}  # fmt: skip
            out = []
            for i, title_rows in enumerate(rows):
                positions = self.position_of_row[np.asarray(title_rows, dtype=np.int64)]
                bound = positions >= 0
                at = torch.from_numpy(positions[bound])
                in_context["context_content"] = model.content[at] @ batch.context_vector[i]  # = content_scores at
                columns = [parts[name][0, at] if name in parts else
                           in_context[name] if name == "context_content" else in_context[name][i, at]
                           for name in HEAD_INPUTS]  # fmt: skip
                inputs = (torch.stack(columns, dim=-1)[None] - model.input_mean) / model.input_std
                scores = np.full(len(positions), -np.inf, dtype=np.float32)
                scores[bound] = model.head(inputs, batch.task[i : i + 1])[0].numpy()
                out.append(scores)
        return out

    def score_rows(self, profile: ProfileFeatures, rows: np.ndarray,
                   context: RankingContext | None = None) -> np.ndarray:  # fmt: skip
        """(k,) scores of one profile for ``rows`` of the bound TitleFeatures (-inf for unbound rows)."""
        full = self.score([profile], mask_seen=False, contexts=None if context is None else [context])[0]
        positions = self.position_of_row[np.asarray(rows, dtype=np.int64)]
        return np.where(positions >= 0, full[np.clip(positions, 0, None)], -np.inf).astype(np.float32)

    # -------------------------------------------------------------- calibration
    @property
    def temperatures(self) -> dict[str, float]:
        """Per-task temperature (task name -> T > 0) dividing the head's scores (1 = uncalibrated)."""
        values = self.model.head.temperature.detach().cpu().numpy()
        return {name: float(values[i]) for i, name in enumerate(TASKS)}

    def set_temperatures(self, temperatures: dict[str, float]) -> None:
        """Set the per-task temperatures (task names of ``TASKS``; others keep theirs) and record them in
        the manifest (``task_temperature``); the scores of each task are divided by its T, so every order
        is unchanged and only the scale of the log play-probabilities moves."""
        unknown = set(temperatures) - set(TASKS)
        if unknown:
            raise ValueError(f"temperatures for unknown tasks {sorted(unknown)}; expected any of {', '.join(TASKS)}")
        if any(not (np.isfinite(t) and t > 0) for t in temperatures.values()):
            raise ValueError(f"temperatures {temperatures}; expected finite values > 0")
        buffer = self.model.head.temperature
        for name, value in temperatures.items():
            buffer[TASKS.index(name)] = float(value)
        self._title_vectors = None
        self._own = threading.local()
        self.manifest = dict(self.manifest, task_temperature=self.temperatures)

    # -------------------------------------------------------------- persistence
    def save(self, directory: Path) -> Path:
        """Write weights (model.pt), item-item and transition matrices (float16 .npy), vocabularies, manifest."""
        import torch

        directory = Path(directory)
        tmp = directory.with_name(directory.name + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        state = {k: v for k, v in self.model.state_dict().items()}
        torch.save(state, tmp / "model.pt")
        np.save(tmp / "itemitem.npy", self.model.item_item.weights.cpu().numpy().astype(np.float16))
        np.save(tmp / "transition.npy", self.model.transition.weights.cpu().numpy().astype(np.float16))
        (tmp / "vocab.json").write_text(json.dumps({"vocab": self.vocab, "itemitem": self.itemitem_titles}))
        manifest = dict(self.manifest, config=asdict(self.config), head_inputs=list(HEAD_INPUTS), tasks=list(TASKS),
                        model_format=RANKER_FORMAT)  # fmt: skip
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
        if directory.exists():
            import shutil

            old = directory.with_name(directory.name + ".old")
            if old.exists():
                shutil.rmtree(old)
            directory.rename(old)
            tmp.rename(directory)
            shutil.rmtree(old)
        else:
            tmp.rename(directory)
        return directory

    @classmethod
    def load(cls, directory: Path) -> TrainedRanker:
        """Read an artifact written by :meth:`save` (bind it to title features before scoring)."""
        import torch

        directory = Path(directory)
        if not (directory / "manifest.json").is_file():
            raise FileNotFoundError(f"{directory}: no ranker artifact; expected manifest.json (run `marquee train ranker`)")
        manifest = json.loads((directory / "manifest.json").read_text())
        if manifest.get("head_inputs") != list(HEAD_INPUTS):
            raise RankerFormatError(directory, manifest.get("head_inputs"))
        if manifest.get("tasks") != list(TASKS):
            raise RankerFormatError(directory, manifest.get("tasks"), "tasks", TASKS)
        if manifest.get("model_format") != RANKER_FORMAT:
            found = manifest.get("model_format")
            raise RankerFormatError(directory, None if found is None else [str(found)], "model format",
                                    [str(RANKER_FORMAT)])  # fmt: skip
        config = RankerConfig(**manifest["config"])
        vocab = json.loads((directory / "vocab.json").read_text())
        itemitem = np.load(directory / "itemitem.npy").astype(np.float32)
        transition_path = directory / "transition.npy"
        transition = np.load(transition_path).astype(np.float32) if transition_path.is_file() else None
        model = build_model(config, itemitem, transition)
        model.load_state_dict(torch.load(directory / "model.pt", weights_only=True))
        model.eval()
        ranker = cls(model, vocab["vocab"], vocab["itemitem"], manifest)
        if isinstance(manifest.get("task_temperature"), dict):  # absent in older artifacts: T = 1
            ranker.set_temperatures({k: float(v) for k, v in manifest["task_temperature"].items()})
        return ranker
