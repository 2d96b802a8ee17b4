"""Server settings with one mistake, for the tests of what ``serve`` says before it starts anything.

``hosts`` is given as one string instead of a list (the classic slip).
"""

from __future__ import annotations

from typing import Any

SOA_SERVER_SETTINGS: dict[str, Any] = {
    "transport": {
        "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
        "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": "redis://127.0.0.1:1/0"}},
    },
}
