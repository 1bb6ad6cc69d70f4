"""Signed tracking tokens: the credential a player's tracking pixel carries.

VAST trackers are fired by players that cannot add headers, so tracking URLs carry no API key;
instead each URL carries a :class:`~ads.delivery.Ticket` signed with HMAC-SHA256 under a server
secret. A token cannot be forged (price, line item and viewer are inside the signature) and expires
``max_age_s`` after the decision. Format: ``base64url(json) "." base64url(hmac[:16])``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from ads.delivery import Ticket
from ads.errors import InvalidTrackingTokenError

DEFAULT_MAX_AGE_S = 86_400.0


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


class TokenSigner:
    """Signs and verifies tickets with one secret."""

    def __init__(self, secret: str | bytes, *, max_age_s: float = DEFAULT_MAX_AGE_S) -> None:
        if not secret:
            raise ValueError("tracking secret is empty: expected a non-empty secret")
        self._key = secret.encode("utf-8") if isinstance(secret, str) else secret
        self.max_age_s = max_age_s

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def sign(self, ticket: Ticket) -> str:
        body = [ticket.impression_id, ticket.line_item_id, ticket.creative_id, ticket.viewer_key,
                round(ticket.price_cpm, 6), ticket.bid_type, round(ticket.bid, 6), round(ticket.decided_at, 3)]  # fmt: skip
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def verify(self, token: str, *, now: float) -> Ticket:
        """The ticket inside ``token``; InvalidTrackingTokenError when malformed, forged or expired."""
        try:
            payload_text, mac_text = token.split(".", 1)
            payload, mac = _unb64(payload_text), _unb64(mac_text)
        except (ValueError, UnicodeEncodeError) as exc:
            raise InvalidTrackingTokenError(f"token {token[:24]!r}...: expected '<payload>.<signature>'") from exc
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidTrackingTokenError("token signature does not match: expected a token Marquee issued")
        try:
            imp, li, cr, viewer, price, bid_type, bid, decided = json.loads(payload)
            ticket = Ticket(str(imp), str(li), str(cr), None if viewer is None else str(viewer), float(price),
                            str(bid_type), float(bid), float(decided))  # fmt: skip
        except (ValueError, TypeError) as exc:
            raise InvalidTrackingTokenError("token payload is not a ticket") from exc
        if now - ticket.decided_at > self.max_age_s:
            raise InvalidTrackingTokenError(
                f"token decided at {ticket.decided_at:.0f} is {now - ticket.decided_at:.0f} s old: expected at most "
                f"{self.max_age_s:.0f} s", expired=True)  # fmt: skip
        return ticket
