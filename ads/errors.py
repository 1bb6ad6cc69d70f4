"""Domain exceptions of the ads layer; ``services/routers/ads.py`` maps them to HTTP."""

from __future__ import annotations


class AdsError(Exception):
    """Base class of ads-layer errors."""


class InvalidInventoryError(AdsError):
    """An advertiser, campaign, line item or creative is not valid; the message names every problem."""

    def __init__(self, kind: str, entity_id: object, problems: list[str]) -> None:
        super().__init__(f"{kind} {entity_id!r}: " + "; ".join(problems))
        self.kind = kind
        self.entity_id = entity_id
        self.problems = problems


class UnknownEntityError(AdsError):
    """A referenced advertiser, campaign, line item or creative does not exist."""

    def __init__(self, kind: str, entity_id: object) -> None:
        super().__init__(f"{kind} {entity_id!r} does not exist")
        self.kind = kind
        self.entity_id = entity_id


class InvalidAdRequestError(AdsError):
    """An ad request cannot be decided on (e.g. a pod with no slot); the message says what was expected."""


class InvalidTrackingTokenError(AdsError):
    """A tracking token is malformed, forged or (``expired=True``) too old."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


class ModelFormatError(AdsError):
    """A saved response model does not have the expected layout."""
