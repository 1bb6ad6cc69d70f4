"""Domain exceptions of the vector index (``embeddings.index``).

Every message states the value that was seen and what was expected; ``services/errors.py`` maps these
to HTTP problem responses. Nothing here imports faiss.
"""

from __future__ import annotations


class VectorIndexError(Exception):
    """Base class of every error raised by the vector index and its artifact store."""


class InvalidVectorsError(VectorIndexError, ValueError):
    """Vectors, ids or search arguments do not satisfy the index contract.

    Raised for a wrong shape or dimension, a non-float dtype, NaN/inf values, rows that are not
    L2-normalised, duplicate or negative ids, or a ``top_k`` below 1.
    """


class GpuUnavailableError(VectorIndexError, RuntimeError):
    """``use_gpu=True`` was requested but faiss reports no usable GPU."""


class IndexNotFoundError(VectorIndexError, FileNotFoundError):
    """The artifact store has no ``CURRENT`` version (or the named version does not exist)."""


class IndexCorruptError(VectorIndexError):
    """An index artifact is missing, unreadable, or does not match its recorded checksum."""


class IndexMismatchError(VectorIndexError):
    """A stored index was built for another embedding model or dimension than the caller expects."""
