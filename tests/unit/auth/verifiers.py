"""A custom token verifier found by import path in the tests."""

from __future__ import annotations

from pysoa_like.auth import Identity, InvalidTokenError


class AllowPartner:
    """Accepts one partner token; refuses every other token with a reason."""

    def __call__(self, token: str) -> Identity:
        if token == "partner-token":
            return Identity("partner", ["orders:read"])
        raise InvalidTokenError("unknown partner")
