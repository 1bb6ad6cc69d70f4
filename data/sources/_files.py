"""File access shared by the loaders: existence checks, checksums, zip members."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from data.errors import SourceFileError


@dataclass(frozen=True)
class SourceInfo:
    """Where a source officially comes from and under which terms (mirrors its SOURCE.md)."""

    name: str
    folder: str
    origin: str
    terms: str


def require_file(path: Path, expected: str, origin: str) -> Path:
    """Return ``path`` if it is a readable non-empty file, else raise SourceFileError."""
    if not path.is_file():
        raise SourceFileError(path, f"missing; expected {expected}", origin=origin)
    if path.stat().st_size == 0:
        raise SourceFileError(path, f"empty; expected {expected}", origin=origin)
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_zip_member(path: Path, member: str, origin: str) -> bytes:
    """Read one member of a zip archive (ignoring ``__MACOSX`` junk); clear errors otherwise."""
    require_file(path, f"a zip archive containing {member}", origin)
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.startswith("__MACOSX/")]
            if member not in names:
                raise SourceFileError(path, f"no member {member!r}; members are {names[:10]}", origin=origin)
            return archive.read(member)
    except zipfile.BadZipFile as exc:
        raise SourceFileError(path, f"not a valid zip archive ({exc}); expected {member}", origin=origin) from exc


def text_stream(payload: bytes, path: Path, origin: str) -> io.StringIO:
    try:
        return io.StringIO(payload.decode("utf-8"), newline="")
    except UnicodeDecodeError as exc:
        raise SourceFileError(path, f"not UTF-8 text ({exc})", origin=origin) from exc
