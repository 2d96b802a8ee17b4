"""Stub services for tests: a client whose services are stubs, and ``stub_action`` to fake single actions.

* :class:`StubClient` is a :class:`~pysoa_like.client.client.Client` whose services are all
  stubs, configured with ``{service: {action: {"body": {...}} or {"errors": [...]}}}``.
* :class:`StubClientTransport` is the transport behind it; use it in ordinary client settings as
  ``{"path": "pysoa_like.test.stub_service:StubClientTransport", "kwargs": {"action_map": {...}}}``.
* :class:`StubServer` is the server such a transport runs.
* :class:`stub_action` replaces one action of one service, on every client in the process
  (including ``request.client`` inside actions), with a mock, while the job's other actions still
  go to the real service.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from pysoa_like.client.settings import ClientSettings
from pysoa_like.common import fields
from pysoa_like.common.errors import Error
from pysoa_like.common.fields import ClassConfigurationSchema
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.local import LocalClientTransport
from pysoa_like.server.action import Action
from pysoa_like.server.errors import ActionError
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from pysoa_like.test._stub_action import (
    StubActionMock,
    get_stubbed_requests,
    get_stubbed_responses,
    reset_stubbed_contracts,
    stub_action,
    to_errors,
)

__all__ = [
    "AsyncStubClient",
    "StubAction",
    "StubActionMock",
    "StubClient",
    "StubClientSettings",
    "StubClientTransport",
    "StubServer",
    "get_stubbed_requests",
    "get_stubbed_responses",
    "reset_stubbed_contracts",
    "stub_action",
]

#: The import path of :class:`StubClientTransport`, for client settings.
STUB_CLIENT_TRANSPORT_PATH = "pysoa_like.test.stub_service:StubClientTransport"


def _camel_case(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^a-zA-Z0-9]+", name)) or "Stub"


class StubAction(Action):
    """An action that returns its class's :attr:`body`, or raises its :attr:`errors` as an ``ActionError``."""

    body: dict[str, Any] = {}
    errors: list[Error] = []

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        """Return the preset body, or raise the preset errors.

        Raises:
            ActionError: The class has errors.
        """
        if self.errors:
            raise ActionError(self.errors)
        return dict(self.body)


def make_stub_action(action: str, body: Mapping[str, Any] | None = None, errors: Iterable[Any] | None = None) -> type:
    """A :class:`StubAction` subclass named after ``action`` in camel case (``update_foo`` -> ``UpdateFoo``).

    Args:
        action: The action's name.
        body: The body it returns.
        errors: The errors it raises instead (``Error`` objects or dicts with ``code``, ``message``, ``field``).
    """
    return type(_camel_case(action), (StubAction,), {"body": dict(body or {}), "errors": to_errors(errors)})


class StubServer(Server):
    """A server whose actions can be defined inline with :meth:`stub_action`.

    Subclass it with a ``service_name`` (:class:`StubClientTransport` does that for you).
    """

    def __init__(self, settings: Mapping[str, Any], forked_process_id: int | None = None) -> None:
        super().__init__(settings, forked_process_id)
        # A per-instance map, so stubbing on one server never changes another built from the same class.
        vars(self)["action_class_map"] = dict(type(self).action_class_map)

    def stub_action(
        self, action: str, body: Mapping[str, Any] | None = None, errors: Iterable[Any] | None = None
    ) -> None:
        """Serve ``action`` with a :class:`StubAction` returning ``body`` (or raising ``errors``).

        Args:
            action: The action's name.
            body: The response body.
            errors: Errors to return instead (``Error`` objects or dicts).
        """
        self.action_class_map[action] = make_stub_action(action, body, errors)  # type: ignore[index]


StubClientTransportSchema = fields.Dictionary(
    {
        "action_map": fields.SchemalessDictionary(
            key_type=fields.UnicodeString(),
            description="Action name -> {'body': {...}} or {'errors': [...]}",
        ),
    },
    optional_keys=("action_map",),
    description="The settings of the stub client transport",
)


@ClassConfigurationSchema.provider(StubClientTransportSchema)
class StubClientTransport(LocalClientTransport):
    """A local transport around a generated :class:`StubServer` subclass serving ``action_map``.

    The server class is named after the service in camel case plus ``Server`` (``user_info`` ->
    ``UserInfoServer``); each action class after its action (see ``make_stub_action``).

    Args:
        service_name: The service stubbed.
        metrics: The metrics recorder.
        action_map: ``{action: {"body": {...}}}`` or ``{action: {"errors": [...]}}``.
    """

    server: StubServer

    def __init__(
        self,
        service_name: str = "test",
        metrics: MetricsRecorder | None = None,
        action_map: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        action_class_map = {
            name: make_stub_action(name, spec.get("body"), spec.get("errors"))
            for name, spec in (action_map or {}).items()
        }
        server_class = type(
            _camel_case(service_name) + "Server",
            (StubServer,),
            {"service_name": service_name, "action_class_map": action_class_map},
        )
        super().__init__(service_name, metrics, server_class=server_class, server_settings={})

    def stub_action(
        self, action: str, body: Mapping[str, Any] | None = None, errors: Iterable[Any] | None = None
    ) -> None:
        """Add or replace an action of the stub server (see :meth:`StubServer.stub_action`)."""
        self.server.stub_action(action, body=body, errors=errors)


class StubClientSettings(ClientSettings):
    """Client settings whose transport defaults to :class:`StubClientTransport`."""

    defaults = {"transport": {"path": STUB_CLIENT_TRANSPORT_PATH}}


class StubClient(Client):
    """A client whose services are all stubs served in-process through the real server pipeline.

    Args:
        service_action_map: ``{service: {action: {"body": {...}} or {"errors": [...]}}}``.
        **kwargs: More :class:`~pysoa_like.client.client.Client` arguments (``expansion_config``, ``context``).

    Example::

        client = StubClient({"user": {"get_user": {"body": {"id": 1}}}})
        client.stub_action("user", "delete_user", errors=[{"code": "DENIED", "message": "No"}])
    """

    settings_class = StubClientSettings

    def __init__(self, service_action_map: Mapping[str, Mapping[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(_stub_config(service_action_map), **kwargs)

    def stub_action(
        self, service_name: str, action: str, body: Mapping[str, Any] | None = None, errors: Iterable[Any] | None = None
    ) -> None:
        """Add or replace a stubbed action, adding the service if this client does not know it yet.

        Args:
            service_name: The service.
            action: The action.
            body: The response body.
            errors: Errors to return instead (``Error`` objects or dicts).
        """
        _stub_on(self, service_name, action, body, errors)


class AsyncStubClient(AsyncClient):
    """The asyncio twin of :class:`StubClient`: an :class:`~pysoa_like.client.async_client.AsyncClient` of stubs.

    Args:
        service_action_map: ``{service: {action: {"body": {...}} or {"errors": [...]}}}``.
        **kwargs: More ``AsyncClient`` arguments (``expansion_config``, ``context``).

    Example::

        client = AsyncStubClient({"user": {"get_user": {"body": {"id": 1}}}})
        response = await client.call_action("user", "get_user")
    """

    settings_class = StubClientSettings

    def __init__(self, service_action_map: Mapping[str, Mapping[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(_stub_config(service_action_map), **kwargs)

    def stub_action(
        self, service_name: str, action: str, body: Mapping[str, Any] | None = None, errors: Iterable[Any] | None = None
    ) -> None:
        """Add or replace a stubbed action, adding the service if this client does not know it (as in StubClient)."""
        _stub_on(self, service_name, action, body, errors)


def _stub_config(service_action_map: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """The client settings of a stub client's services."""
    return {
        service: {"transport": {"path": STUB_CLIENT_TRANSPORT_PATH, "kwargs": {"action_map": dict(action_map)}}}
        for service, action_map in (service_action_map or {}).items()
    }


def _stub_on(
    client: StubClient | AsyncStubClient,
    service_name: str,
    action: str,
    body: Mapping[str, Any] | None,
    errors: Iterable[Any] | None,
) -> None:
    """Add or replace a stubbed action of a stub client, adding the service if the client does not know it yet."""
    if service_name not in client.settings:
        client.settings[service_name] = client.settings_class({"transport": {"path": STUB_CLIENT_TRANSPORT_PATH}})
    transport = client._get_handler(service_name).transport
    # The asyncio client's local transport wraps the blocking one.
    transport = getattr(transport, "transport", transport)
    if not isinstance(transport, StubClientTransport):
        raise TypeError(f"Service {service_name!r} of this client does not use StubClientTransport")
    transport.stub_action(action, body=body, errors=errors)
