"""The dashboard application's own checks of its arguments (no Redis is reached)."""

from __future__ import annotations

import math

import pytest

from pysoa_like.dashboard import create_app
from pysoa_like.fleet.redis import FleetRedis


@pytest.mark.parametrize(
    ("sizes", "words"),
    [
        ({"interval": math.nan}, "interval must be a positive number of seconds, got nan"),
        ({"interval": math.inf}, "interval must be a positive number of seconds, got inf"),
        ({"resolution": math.nan}, "resolution must be a positive number of seconds, got nan"),
        ({"window": math.inf}, "window must be a positive number of seconds, got inf"),
        ({"window": math.nan}, "window must be a positive number of seconds, got nan"),
    ],
)
def test_the_dashboard_refuses_sizes_that_are_not_finite(sizes: dict[str, float], words: str) -> None:
    """create_app refuses a NaN or infinite interval, resolution or window with a ValueError naming it (they were
    accepted: a NaN interval stopped the polling after the first read, a NaN resolution or an infinite window
    made every overview fail)."""
    fleet = FleetRedis("redis.standard", {"hosts": ["redis://127.0.0.1:9/0"]})  # never connected
    try:
        with pytest.raises(ValueError) as caught:
            create_app(fleet, **sizes)
        assert str(caught.value) == words
    finally:
        fleet.close()


def test_the_dashboard_refuses_an_empty_list_of_allowed_hosts() -> None:
    """``allowed_hosts=[]`` is refused, naming the setting (it was accepted, and every page then answered 400)."""
    fleet = FleetRedis("redis.standard", {"hosts": ["redis://127.0.0.1:9/0"]})  # never connected
    try:
        with pytest.raises(ValueError, match=r'^allowed_hosts must name at least one host \(or "\*" for any\)'):
            create_app(fleet, allowed_hosts=[])
    finally:
        fleet.close()
