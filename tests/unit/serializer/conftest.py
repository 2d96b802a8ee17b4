"""Fixtures for serializer tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pysoa_like.common.serializer import base


@pytest.fixture
def throwaway_mime_types() -> Iterator[list[str]]:
    """Collect MIME types a test registers and unregister them afterwards, keeping the registry clean."""
    registered: list[str] = []
    yield registered
    for mime_type in registered:
        base._unregister(mime_type)
