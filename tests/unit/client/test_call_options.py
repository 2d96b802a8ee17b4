"""Tests for a call's options: its keywords read and checked once."""

from __future__ import annotations

import pytest

from pysoa_like.client.client import options_of


def test_options_check_every_job_keyword_once_when_read() -> None:
    """A call's bad keyword is refused when its options are read, before anything is built or sent."""
    with pytest.raises(TypeError, match="switches"):
        options_of({"switches": 5})
    with pytest.raises(TypeError, match="correlation_id"):
        options_of({"correlation_id": 5})
    with pytest.raises(ValueError, match="message_expiry_in_seconds"):
        options_of({"message_expiry_in_seconds": -1})
    with pytest.raises(TypeError, match="context"):
        options_of({"context": "abc"})
