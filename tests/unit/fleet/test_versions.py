"""Service version ordering and minimum-version checks."""

from __future__ import annotations

import pytest

from pysoa_like.registry.versions import ServiceVersion, meets_minimum


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.9", "1.10"),
        ("1.4.9", "1.5"),
        ("1.5.0rc1", "1.5.0"),
        ("1.5.0-beta.2", "1.5.0"),
        ("1.5.0a1", "1.5.0b1"),
        ("unknown", "0.0.1"),
        ("v1.2", "1.3"),
    ],
)
def test_versions_order_numerically_with_pre_releases_first(older: str, newer: str) -> None:
    """Numbers compare as numbers and a pre-release sorts before its release."""
    assert ServiceVersion(older) < ServiceVersion(newer)


def test_missing_parts_are_zero_and_local_parts_are_ignored() -> None:
    """1.4 equals 1.4.0, and a +local suffix changes nothing."""
    assert ServiceVersion("1.4") == ServiceVersion("1.4.0") == ServiceVersion("1.4.0+build7")
    assert len({ServiceVersion("1.4"), ServiceVersion("1.4.0")}) == 1


def test_meets_minimum() -> None:
    """A version meets a minimum when it is at least that; junk and None never do; no minimum always passes."""
    assert meets_minimum("1.4.1", "1.4")
    assert meets_minimum("1.4", "1.4.0")
    assert not meets_minimum("1.3.9", "1.4")
    assert not meets_minimum("unknown", "0")
    assert not meets_minimum(None, "1")
    assert meets_minimum(None, None)
    assert meets_minimum("unknown", None)
