"""What a ``use_django`` server does around requests (Django imported only when used)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["close_django_caches", "django_server_settings", "django_setup"]


def django_setup() -> None:
    """Configure Django (``django.setup()``) unless its apps are already loaded."""
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


def django_server_settings() -> Mapping[str, Any]:
    """The server settings from ``django.conf.settings.SOA_SERVER_SETTINGS``.

    Raises:
        ValueError: Django's settings have no ``SOA_SERVER_SETTINGS``.
    """
    from django.conf import settings

    value = getattr(settings, "SOA_SERVER_SETTINGS", None)
    if not isinstance(value, Mapping):
        raise ValueError("Django's settings must define SOA_SERVER_SETTINGS (a dict) to run a Django service")
    return value


def close_django_caches(logger: logging.Logger, for_shutdown: bool = False) -> None:
    """Call ``close()`` on every initialised Django cache, logging (never raising) failures."""
    from django.core.cache import caches

    for cache in caches.all(initialized_only=True):
        try:
            if for_shutdown:
                cache.close(for_shutdown=True)
            else:
                cache.close()
        except Exception as exc:
            logger.warning("Closing a Django cache failed: %s", exc, exc_info=exc)
