"""The orders service tested with the server test case classes and stub_action decorators."""

from __future__ import annotations

import os
from typing import Any

from examples.toolkit_service import service
from examples.toolkit_service.service import OrdersServer
from examples.toolkit_service.settings import SOA_SERVER_SETTINGS
from pysoa_like.test.compatibility import mock
from pysoa_like.test.server import PyTestServerTestCase, UnitTestServerTestCase
from pysoa_like.test.stub_service import stub_action


@stub_action("inventory", "get_stock", body={"count": 1})
class TestOrdersWithPyTest(PyTestServerTestCase):
    """Every test method gets the class's get_stock stub as its last mock argument."""

    server_class = OrdersServer
    server_settings = SOA_SERVER_SETTINGS

    def test_get_order(self, get_stock: Any) -> None:
        """call_action defaults to the service under test."""
        response = self.call_action("get_order", {"order_id": 1})
        self.assertEqual({"order_id": 1, "sku": "book", "in_stock": True}, response.body)
        self.assertEqual({"sku": "book"}, get_stock.call_body)

    def test_field_errors(self, get_stock: Any) -> None:
        """Field errors are checked per field; the stub is never reached."""
        self.assertActionRunsWithOnlyFieldErrors("get_order", {"order_id": "one"}, {"order_id": "INVALID"})
        self.assertActionRunsWithFieldErrors("place_order", {"sku": "book"}, {"quantity": ["MISSING"]})
        self.assertFalse(get_stock.called)

    def test_error_codes(self, get_stock: Any) -> None:
        """Error codes are checked on errors without a field."""
        self.assertActionRunsWithOnlyErrorCodes("get_order", {"order_id": 42}, "NOT_FOUND")
        errors = self.assertActionRunsWithAndReturnErrors("get_order", {"order_id": 42})
        self.assertEqual("No order 42", errors[0].message)

    @stub_action("inventory", "reserve", body={"reservation_id": "R-9"})
    @mock.patch.object(service, "ORDERS", new_callable=lambda: {7: "desk"})
    def test_stacked_decorators(self, orders: Any, reserve: Any, get_stock: Any) -> None:
        """Mocks arrive bottom-up, like mock.patch: the patched dict, then reserve, then the class's stub."""
        self.assertEqual({7: "desk"}, orders)
        self.assertEqual("desk", self.call_action("get_order", {"order_id": 7}).body["sku"])
        self.assertEqual("R-9", self.call_action("place_order", {"sku": "desk", "quantity": 1}).body["reservation_id"])
        self.assertEqual(1, reserve.call_count)
        self.assertEqual(({"sku": "desk"},), get_stock.call_bodies)

    def test_cleanups_run_after_the_test(self, get_stock: Any) -> None:
        """addCleanup works as in unittest."""
        stub = stub_action("inventory", "reserve", body={"reservation_id": "R-2"})
        stub.start()
        self.addCleanup(stub.stop)
        self.assertEqual("R-2", self.call_action("place_order", {"sku": "a", "quantity": 1}).body["reservation_id"])


class TestOrdersWithUnitTest(UnitTestServerTestCase):
    """A unittest.TestCase whose settings come from $PYSOA_SETTINGS_MODULE."""

    server_class = OrdersServer

    def setUp(self) -> None:
        """Point PYSOA_SETTINGS_MODULE at the example settings for this test only."""
        patcher = mock.patch.dict(os.environ, {"PYSOA_SETTINGS_MODULE": "examples.toolkit_service.settings"})
        patcher.start()
        self.addCleanup(patcher.stop)
        super().setUp()

    def test_get_order_uses_the_settings_module(self) -> None:
        """The inventory stub transport from the settings module answers (count 3)."""
        self.assertTrue(self.call_action("get_order", {"order_id": 2}).body["in_stock"])

    @stub_action("inventory", "get_stock", body={"count": 0})
    def test_method_decorator(self, get_stock: Any) -> None:
        """A method decorator works on unittest test cases too."""
        self.assertFalse(self.call_action("get_order", {"order_id": 2}).body["in_stock"])
        get_stock.assert_called_once_with({"sku": "lamp"})

    def test_error_codes(self) -> None:
        """The assertion helpers are available on unittest cases."""
        self.assertActionRunsWithErrorCodes("get_order", {"order_id": 3}, {"NOT_FOUND"})
