"""Optional Django integration (``pip install pysoa_like[django]``).

:mod:`~pysoa_like.server.django.database` keeps database connections healthy between requests;
:mod:`~pysoa_like.server.django.cache` offers cache engines whose ``close()`` suits a long-lived
worker. A server uses them when its class sets ``use_django = True``; its settings then come from
``django.conf.settings.SOA_SERVER_SETTINGS``.
"""

from __future__ import annotations

__all__: list[str] = []
