"""Versioned, checksummed index artifacts with an atomic ``CURRENT`` pointer.

Layout under ``root``::

    root/
      CURRENT                      # one line: the serving version's name
      versions/
        20250101T120000123456Z-1a2b3c4d/
          index.faiss              # the CPU faiss index (faiss.write_index)
          ids.npy                  # (n,) int64: our id of each faiss position
          manifest.json            # fingerprint, dimension, count, kind + params, sha256 of each file...

A version is written into ``versions/.tmp-<name>/`` and renamed into place only once complete, so a
reader never sees half a version. ``activate`` then swaps ``CURRENT`` with ``os.replace`` (atomic on
POSIX): a new version can be built while the old one serves, and a process holding an index loaded
from the old version keeps using it (a loaded index lives entirely in memory).

This is the index's ``save``/``load`` boundary; everything else in ``embeddings.index`` is pure.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.index import FaissVectorIndex, UseGpu, index_from_faiss
from embeddings.index_errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    InvalidVectorsError,
    VectorIndexError,
)

__all__ = ["FORMAT_VERSION", "IndexStore", "LoadedIndex"]

FORMAT_VERSION = 1
INDEX_FILE = "index.faiss"
IDS_FILE = "ids.npy"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
_TMP_PREFIX = ".tmp-"
_VERSION_PATTERN = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}$")
# Keys the store computes itself; callers cannot set them through manifest_fields.
_RESERVED_FIELDS = frozenset(
    {
        "format_version",
        "version",
        "dimension",
        "count",
        "index_kind",
        "index_params",
        "checksums",
        "built_at",
        "build_seconds",
        "faiss_version",
    }
)
_REQUIRED_FIELDS = ("model_fingerprint", "catalog_version")
# Unfinished temporary versions older than this are debris of a crashed build; prune removes them.
_STALE_TMP_SECONDS = 24 * 3600


@dataclass(frozen=True)
class LoadedIndex:
    """An index read from the store with the manifest it was verified against."""

    index: FaissVectorIndex
    manifest: dict[str, Any]
    version: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:  # platforms that cannot open directories (Windows): rename is still atomic
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _new_version_name() -> str:
    now = datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond:06d}Z-{uuid.uuid4().hex[:8]}"


class IndexStore:
    """Writes, lists, activates, loads and prunes index versions under ``root``.

    Args:
        root: the store directory (created on the first write).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def versions_dir(self) -> Path:
        return self.root / "versions"

    # -- writing --------------------------------------------------------------------------------

    def write_version(
        self, index: FaissVectorIndex, manifest_fields: Mapping[str, Any], *, activate: bool = True
    ) -> Path:
        """Write ``index`` as a new version and (by default) make it ``CURRENT``.

        Args:
            index: a filled (or empty) index from :func:`embeddings.index.build_index`.
            manifest_fields: caller facts recorded in the manifest; must hold ``model_fingerprint``
                (non-empty string) and ``catalog_version``; extra JSON-serialisable keys are kept.
            activate: swap ``CURRENT`` to the new version once it is complete.

        Returns:
            The new version's directory ``root/versions/<version>``.
        """
        fields = self._check_fields(manifest_fields)
        faiss_index = index.faiss_index
        if faiss_index is None:
            raise VectorIndexError(
                f"cannot store a {type(index).__name__} that has never been trained; add vectors before writing it"
            )
        import faiss

        version = _new_version_name()
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.versions_dir / f"{_TMP_PREFIX}{version}"
        temporary.mkdir()
        try:
            faiss.write_index(faiss_index, str(temporary / INDEX_FILE))
            np.save(temporary / IDS_FILE, np.ascontiguousarray(index.ids, dtype=np.int64), allow_pickle=False)
            manifest = {
                "format_version": FORMAT_VERSION,
                "version": version,
                **fields,
                "dimension": index.dim,
                "count": index.ntotal,
                "index_kind": index.kind,
                "index_params": index.params,
                "checksums": {name: _sha256(temporary / name) for name in (INDEX_FILE, IDS_FILE)},
                "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "build_seconds": round(float(index.build_seconds), 3),
                "faiss_version": faiss.__version__,
            }
            (temporary / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            for name in (INDEX_FILE, IDS_FILE, MANIFEST_FILE):
                _fsync_file(temporary / name)
            _fsync_dir(temporary)
            final = self.versions_dir / version
            os.rename(temporary, final)
            _fsync_dir(self.versions_dir)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        if activate:
            self.activate(version)
        return final

    def activate(self, version: str) -> None:
        """Point ``CURRENT`` at ``version`` atomically (temp file + ``os.replace``)."""
        directory = self._version_dir(version)
        if not (directory / MANIFEST_FILE).is_file():
            raise IndexNotFoundError(
                f"version {version!r} has no {MANIFEST_FILE} under {directory}; expected a written version"
            )
        temporary = self.root / f"{_TMP_PREFIX}{CURRENT_FILE}-{uuid.uuid4().hex}"
        temporary.write_text(version + "\n")
        _fsync_file(temporary)
        os.replace(temporary, self.root / CURRENT_FILE)
        _fsync_dir(self.root)

    @staticmethod
    def _check_fields(manifest_fields: Mapping[str, Any]) -> dict[str, Any]:
        fields = dict(manifest_fields)
        missing = [key for key in _REQUIRED_FIELDS if key not in fields]
        if missing:
            raise InvalidVectorsError(
                f"manifest_fields lacks {missing}; expected at least {list(_REQUIRED_FIELDS)}"
            )
        fingerprint = fields["model_fingerprint"]
        if not isinstance(fingerprint, str) or not fingerprint:
            raise InvalidVectorsError(f"model_fingerprint must be a non-empty string; got {fingerprint!r}")
        reserved = sorted(_RESERVED_FIELDS & fields.keys())
        if reserved:
            raise InvalidVectorsError(
                f"manifest_fields sets {reserved}, which the store computes; remove them"
            )
        try:
            json.dumps(fields)
        except (TypeError, ValueError) as error:
            raise InvalidVectorsError(f"manifest_fields must be JSON-serialisable: {error}") from error
        return fields

    # -- reading --------------------------------------------------------------------------------

    def list_versions(self) -> list[str]:
        """Complete versions, oldest first (names sort chronologically)."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.versions_dir.iterdir()
            if entry.is_dir() and _VERSION_PATTERN.match(entry.name)
        )

    def current_version(self) -> str | None:
        """The version ``CURRENT`` names, or ``None`` when nothing was activated yet."""
        pointer = self.root / CURRENT_FILE
        if not pointer.is_file():
            return None
        version = pointer.read_text().strip()
        if not _VERSION_PATTERN.match(version):
            raise IndexCorruptError(
                f"{pointer} holds {version!r}; expected a version name like 20250101T120000000000Z-0a1b2c3d"
            )
        return version

    def read_manifest(self, version: str) -> dict[str, Any]:
        """The parsed ``manifest.json`` of ``version`` (format version checked)."""
        path = self._version_dir(version) / MANIFEST_FILE
        if not path.is_file():
            raise IndexCorruptError(f"{path} is missing; expected the manifest of version {version!r}")
        try:
            manifest = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise IndexCorruptError(
                f"{path} is not valid JSON ({error}); expected the manifest of version {version!r}"
            ) from error
        if not isinstance(manifest, dict):
            raise IndexCorruptError(f"{path} holds a {type(manifest).__name__}; expected a JSON object")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"{path} has format_version {manifest.get('format_version')!r}; expected {FORMAT_VERSION}"
            )
        for key in ("dimension", "count", "index_kind", "index_params", "checksums", "model_fingerprint"):
            if key not in manifest:
                raise IndexCorruptError(f"{path} lacks {key!r}; expected a complete manifest")
        return manifest

    def load_current(
        self,
        expected_model_fingerprint: str | None = None,
        expected_dim: int | None = None,
        *,
        use_gpu: UseGpu = "auto",
    ) -> LoadedIndex:
        """Load and verify the ``CURRENT`` version; see :meth:`load_version`."""
        version = self.current_version()
        if version is None:
            raise IndexNotFoundError(
                f"{self.root / CURRENT_FILE} does not exist; expected a written and activated index version"
            )
        return self.load_version(
            version,
            expected_model_fingerprint=expected_model_fingerprint,
            expected_dim=expected_dim,
            use_gpu=use_gpu,
        )

    def load_version(
        self,
        version: str,
        *,
        expected_model_fingerprint: str | None = None,
        expected_dim: int | None = None,
        use_gpu: UseGpu = "auto",
    ) -> LoadedIndex:
        """Load ``version`` after checking its manifest and the sha256 of every file.

        Raises:
            IndexNotFoundError: the version does not exist.
            IndexMismatchError: the model fingerprint or dimension differs from the expected one.
            IndexCorruptError: a file is missing, unreadable, or its checksum, shape or type differs
                from the manifest.
        """
        directory = self._version_dir(version)
        if not directory.is_dir():
            raise IndexNotFoundError(f"{directory} does not exist; expected one of {self.list_versions()}")
        manifest = self.read_manifest(version)
        manifest_path = directory / MANIFEST_FILE
        if (
            expected_model_fingerprint is not None
            and manifest["model_fingerprint"] != expected_model_fingerprint
        ):
            raise IndexMismatchError(
                f"{manifest_path} was built with model fingerprint {manifest['model_fingerprint']!r}; "
                f"expected {expected_model_fingerprint!r} (rebuild the index for the current model)"
            )
        if expected_dim is not None and manifest["dimension"] != expected_dim:
            raise IndexMismatchError(
                f"{manifest_path} has dimension {manifest['dimension']!r}; expected {expected_dim} "
                "(rebuild the index for the current model)"
            )
        checksums = manifest["checksums"]
        for name in (INDEX_FILE, IDS_FILE):
            path = directory / name
            if not path.is_file():
                raise IndexCorruptError(f"{path} is missing; expected it next to {MANIFEST_FILE}")
            if name not in checksums:
                raise IndexCorruptError(f"{manifest_path} has no checksum for {name}; expected one per file")
            actual = _sha256(path)
            if actual != checksums[name]:
                raise IndexCorruptError(
                    f"{path} has sha256 {actual}; expected {checksums[name]} from {MANIFEST_FILE} (file corrupted or replaced)"
                )
        import faiss

        try:
            faiss_index = faiss.read_index(str(directory / INDEX_FILE))
        except RuntimeError as error:
            raise IndexCorruptError(f"{directory / INDEX_FILE} cannot be read by faiss: {error}") from error
        try:
            ids = np.load(directory / IDS_FILE, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise IndexCorruptError(
                f"{directory / IDS_FILE} cannot be read as a numpy array: {error}"
            ) from error
        if ids.dtype != np.int64 or ids.shape != (manifest["count"],):
            raise IndexCorruptError(
                f"{directory / IDS_FILE} holds {ids.dtype} of shape {ids.shape}; expected int64 of shape ({manifest['count']},)"
            )
        if int(faiss_index.ntotal) != manifest["count"] or int(faiss_index.d) != manifest["dimension"]:
            raise IndexCorruptError(
                f"{directory / INDEX_FILE} holds {faiss_index.ntotal} vectors of dimension {faiss_index.d}; "
                f"expected {manifest['count']} of dimension {manifest['dimension']} from {MANIFEST_FILE}"
            )
        index = index_from_faiss(
            manifest["index_kind"], faiss_index, ids, manifest["index_params"], use_gpu=use_gpu
        )
        index.build_seconds = float(manifest.get("build_seconds", 0.0))
        return LoadedIndex(index=index, manifest=manifest, version=version)

    # -- housekeeping ---------------------------------------------------------------------------

    def prune(self, keep: int = 3) -> list[str]:
        """Delete all but the newest ``keep`` versions (never the ``CURRENT`` one).

        Also removes temporary directories of builds that crashed more than a day ago (younger ones
        may belong to a build in progress). Returns the removed version names, oldest first.
        """
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise InvalidVectorsError(f"keep must be an integer >= 1; got {keep!r}")
        versions = self.list_versions()
        current = self.current_version()
        removed = [version for version in versions[:-keep] if version != current]
        for version in removed:
            shutil.rmtree(self.versions_dir / version)
        if self.versions_dir.is_dir():
            cutoff = time.time() - _STALE_TMP_SECONDS
            for entry in self.versions_dir.iterdir():
                if entry.name.startswith(_TMP_PREFIX) and entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
        return removed

    def _version_dir(self, version: str) -> Path:
        if not isinstance(version, str) or not _VERSION_PATTERN.match(version):
            raise IndexNotFoundError(
                f"{version!r} is not a version name; expected one like 20250101T120000000000Z-0a1b2c3d"
            )
        return self.versions_dir / version
