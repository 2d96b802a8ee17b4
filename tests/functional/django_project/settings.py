"""A tiny Django project for the functional tests: SQLite, the pysoa_like cache engines, SOA_SERVER_SETTINGS."""

from __future__ import annotations

import os
from typing import Any

SECRET_KEY = "functional-tests-only"
DEBUG = True
USE_TZ = True
INSTALLED_APPS: list[str] = []
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("FUNCTIONAL_SQLITE_PATH", ":memory:"),
        "CONN_MAX_AGE": 60,
    }
}
CACHES = {
    "default": {"BACKEND": "pysoa_like.server.django.cache.PySOARequestScopedMemoryCache", "LOCATION": "request"},
    "process": {"BACKEND": "pysoa_like.server.django.cache.PySOAProcessScopedMemoryCache", "LOCATION": "process"},
}

SOA_SERVER_SETTINGS: dict[str, Any] = {
    "transport": {
        "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
        "kwargs": {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": {"hosts": [os.environ.get("FUNCTIONAL_REDIS_URL", "redis://127.0.0.1:6379/0")]},
            "receive_timeout_in_seconds": 1,
        },
    },
}
