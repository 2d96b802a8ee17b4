"""Small statistics helpers: nearest-rank percentiles, medians and ranges over repetitions."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["median", "percentile", "summarize"]


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values.

    Args:
        sorted_values: Values in ascending order (at least one).
        fraction: ``0.5`` for p50, ``0.99`` for p99.

    Returns:
        The smallest value with at least ``fraction`` of the values at or below it.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def median(values: Sequence[float]) -> float:
    """The median (the mean of the two middle values for an even count)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of no values")
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def summarize(values: Sequence[float]) -> dict[str, float | list[float]]:
    """``{"median", "min", "max", "values"}`` of one figure over the repetitions."""
    return {"median": median(values), "min": min(values), "max": max(values), "values": list(values)}
