"""Domain exceptions of the data layer."""

from __future__ import annotations


class DataError(Exception):
    """Base class of data-layer errors."""


class SourceFileError(DataError):
    """A source file is missing, unreadable or not what it should be.

    The message names the file, what was expected, and where the file officially comes from.
    """

    def __init__(self, path: object, expected: str, *, origin: str | None = None) -> None:
        message = f"{path}: {expected}"
        if origin:
            message += f" (official source: {origin})"
        super().__init__(message)
        self.path = path
        self.expected = expected


class CatalogNotBuiltError(DataError):
    """The unified catalog has not been built yet in the given directory."""

    def __init__(self, path: object) -> None:
        super().__init__(f"no built catalog at {path}: run `marquee data build` first")
        self.path = path


class QueryFileError(DataError):
    """A query file (JSONL) has malformed lines; ``problems`` lists each (``file:line: what is wrong``)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


class TuningSetError(DataError):
    """A query set that must not be tuned on (a test split, or a file that holds one) was given for tuning."""
