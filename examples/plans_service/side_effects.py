"""What the events service does besides answering: new booking ids and confirmation e-mails.

Test plans replace these with mocks (``mock: examples.plans_service.side_effects.send_confirmation: …``).
"""

from __future__ import annotations

import uuid

__all__ = ["new_booking_id", "send_confirmation"]


def new_booking_id() -> str:
    """A new, unique booking id."""
    return f"B-{uuid.uuid4().hex[:8]}"


def send_confirmation(email: str, booking_id: str) -> None:
    """E-mail the booking confirmation (a real service would send it)."""
