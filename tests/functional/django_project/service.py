"""A Django-backed service: one action touching the database and both cache engines."""

from __future__ import annotations

from typing import Any

from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest


class ProbeAction(Action):
    """Reports what the previous request left behind, then runs one query and fills both caches."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        from django.core.cache import caches
        from django.db import connection

        queries_before = len(connection.queries)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 41 + 1")
            (answer,) = cursor.fetchone()
        request_cache, process_cache = caches["default"], caches["process"]
        left_over = request_cache.get("per_request")
        request_cache.set("per_request", "set")
        calls = (process_cache.get("calls") or 0) + 1
        process_cache.set("calls", calls)
        return {"answer": answer, "queries_before": queries_before, "left_over": left_over, "calls": calls}


class DjangoServer(Server):
    """The Django functional-test service."""

    service_name = "functional"
    use_django = True
    action_class_map = {"probe": ProbeAction}
