# Django ships no type information, so its cache classes are Any to mypy; subclassing them is the point here.
# mypy: disable-error-code="misc"
"""Django cache engines with a ``close()`` that fits a long-lived server worker.

The server calls ``close()`` on every configured Django cache after each request, and
``close(for_shutdown=True)`` when it stops. Django's engines treat every ``close()`` alike; these
decide per engine:

- :class:`PySOARequestScopedMemoryCache`: an in-memory cache emptied after every request.
- :class:`PySOAProcessScopedMemoryCache`: an in-memory cache that lives as long as the worker.
- :class:`PySOAPyMemcacheCache` (also ``PySOAMemcachedCache``) and :class:`PySOAPyLibMCCache`:
  memcached clients whose connections are kept across requests and closed only at shutdown.

Use them in Django's ``CACHES`` setting, e.g.
``"BACKEND": "pysoa_like.server.django.cache.PySOARequestScopedMemoryCache"``.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.memcached import PyLibMCCache, PyMemcacheCache

__all__ = [
    "PySOAMemcachedCache",
    "PySOAProcessScopedMemoryCache",
    "PySOAPyLibMCCache",
    "PySOAPyMemcacheCache",
    "PySOARequestScopedMemoryCache",
]


class PySOARequestScopedMemoryCache(LocMemCache):
    """An in-memory cache cleared on every ``close()``: values live for one request."""

    def close(self, **kwargs: Any) -> None:
        self.clear()


class PySOAProcessScopedMemoryCache(LocMemCache):
    """An in-memory cache never cleared by ``close()``: values live as long as the worker."""

    def close(self, **kwargs: Any) -> None:
        pass


class PySOAPyMemcacheCache(PyMemcacheCache):
    """The ``pymemcache`` engine, closing its connections only at shutdown."""

    def close(self, **kwargs: Any) -> None:
        if kwargs.get("for_shutdown"):
            super().close(**kwargs)


#: PySOA's name (its engine wrapped ``python-memcached``, which Django no longer supports).
PySOAMemcachedCache = PySOAPyMemcacheCache


class PySOAPyLibMCCache(PyLibMCCache):
    """The ``pylibmc`` engine, closing its connections only at shutdown."""

    def close(self, **kwargs: Any) -> None:
        if kwargs.get("for_shutdown"):
            super().close(**kwargs)
