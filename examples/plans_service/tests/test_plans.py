"""The events service's test plans: every test case of every ``.pysoa`` file under ``plans/`` is a test.

Run them with ``pytest examples/plans_service``; ``--pysoa-fixture booking`` runs one file,
``--pysoa-test-case sold_out`` one case.
"""

from __future__ import annotations

from typing import Any

from examples.plans_service.service import EventsServer
from pysoa_like.test.plan import ServicePlanTestCase


class TestEventPlans(ServicePlanTestCase):
    """Each case calls the events service in-process, through its whole server pipeline."""

    server_class = EventsServer
    server_settings: dict[str, Any] = {}
    fixture_path = "plans"  # next to this module
    model_constants = {"customers": [{"email": "ada@example.com"}, {"email": "alan@example.com"}]}
