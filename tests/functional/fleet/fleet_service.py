"""The services the fleet functional tests run under the standalone runner (configured through the environment).

``FLEET_SERVICE`` names the service (default ``fleet``), ``FLEET_VERSION`` its version,
``FLEETREDIS_URL`` the Redis, ``FLEET_REFRESH``/``FLEET_TTL`` the registry timing,
``FLEET_REQUIRES`` (JSON) its dependencies, ``FLEET_ON_TIMEOUT``/``FLEET_WAIT`` the gating.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from tests.functional.fleet._settings import service_settings


class WhoAction(Action):
    """Returns the worker's pid."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"pid": os.getpid()}


class SleepAction(Action):
    """Sleeps ``seconds``."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        time.sleep(float(request.body["seconds"]))
        return {"pid": os.getpid()}


class OldAction(Action):
    """An action kept for old callers."""

    deprecated = "use who instead"

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"old": True}


class FleetServer(Server):
    """The fleet functional-test service."""

    service_name = os.environ.get("FLEET_SERVICE", "fleet")
    service_version = os.environ.get("FLEET_VERSION", "1.4.0")
    action_class_map = {"who": WhoAction, "sleep": SleepAction, "old": OldAction}


SOA_SERVER_SETTINGS: dict[str, Any] = service_settings(
    registry={
        "refresh_interval_seconds": float(os.environ.get("FLEET_REFRESH", "0.5")),
        "ttl_seconds": float(os.environ.get("FLEET_TTL", "2")),
    },
    dependencies={
        "services": json.loads(os.environ.get("FLEET_REQUIRES", "{}")),
        "wait_timeout_seconds": float(os.environ.get("FLEET_WAIT", "30")),
        "on_timeout": os.environ.get("FLEET_ON_TIMEOUT", "start"),
    },
)
