"""factory_boy factories for server settings, servers and throwaway actions (needs the ``factories`` extra).

* :class:`ServerSettingsFactory` builds validated :class:`~pysoa_like.server.settings.ServerSettings`
  (every default filled in) whose ``transport`` is always the local server transport, so nothing in a
  test reaches for Redis.
* :class:`ServerFactory` builds a server instance of a given server class with such settings.
* :func:`ActionFactory` makes an action class whose ``run`` returns a fixed body or raises a fixed exception.

Example::

    from pysoa_like.test.factories import ActionFactory, ServerFactory, ServerSettingsFactory

    class PingServer(Server):
        service_name = "ping"
        action_class_map = {"ping": ActionFactory(body={"pong": True})}

    server = ServerFactory(server_class=PingServer, settings__middleware=[])
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from pysoa_like.common._extras import install_extra

try:
    # factory_boy re-exports nothing explicitly, so strict mypy needs the defining modules.
    from factory.base import Factory
    from factory.declarations import SubFactory
except ImportError as _exc:  # pragma: no cover - the tests import the module without factory_boy
    raise ImportError(
        f"pysoa_like.test.factories needs factory_boy, which is not installed: {install_extra('factories')}"
    ) from _exc

from pysoa_like.common.settings import Settings, copy_containers
from pysoa_like.common.types import Body
from pysoa_like.server.action import Action
from pysoa_like.server.server import Server
from pysoa_like.server.settings import ServerSettings
from pysoa_like.server.types import EnrichedActionRequest

__all__ = ["LOCAL_SERVER_TRANSPORT_PATH", "ActionFactory", "ServerFactory", "ServerSettingsFactory"]

#: The transport every :class:`ServerSettingsFactory` settings dict gets, whatever was asked for.
LOCAL_SERVER_TRANSPORT_PATH = "pysoa_like.common.transport.local:LocalServerTransport"


class ServerSettingsFactory(Factory[ServerSettings]):
    """Builds :class:`~pysoa_like.server.settings.ServerSettings` whose ``transport`` is the local server transport.

    Keyword arguments become settings keys (``ServerSettingsFactory(middleware=[...])``); PySOA's
    ``data={...}`` form is accepted too, with keyword arguments winning over it. A ``transport`` given
    either way is replaced by ``{"path": LOCAL_SERVER_TRANSPORT_PATH}``. The result is validated and
    holds every default (``harakiri``, ``logging``, ``client_routing``, ...), as PySOA's factory gives;
    what was passed in is never changed.

    Raises:
        Settings.ImproperlyConfigured: A given setting is invalid.
    """

    class Meta:
        model = ServerSettings

    @classmethod
    def _adjust_kwargs(cls, **kwargs: Any) -> dict[str, Any]:
        """Merge PySOA's ``data`` argument under the keyword arguments and force the local transport."""
        data = kwargs.pop("data", None) or {}
        merged = copy_containers(dict(data, **kwargs))
        merged["transport"] = {"path": LOCAL_SERVER_TRANSPORT_PATH}
        return {"data": merged}

    @classmethod
    def _build(cls, model_class: type[ServerSettings], *args: Any, **kwargs: Any) -> ServerSettings:
        """Build exactly as create does: settings have nothing to save."""
        return model_class(*args, **kwargs)

    @classmethod
    def from_module(cls, module_path: str) -> ServerSettings:
        """Build settings from a settings module's ``SOA_SERVER_SETTINGS`` (or, failing that, ``settings``).

        Args:
            module_path: The dotted module name, e.g. ``"my_service.settings"``.

        Returns:
            The settings, with the local server transport forced as for any other build.

        Raises:
            ImportError: The module cannot be imported.
            AttributeError: The module defines neither ``SOA_SERVER_SETTINGS`` nor ``settings`` as a mapping.
        """
        module = importlib.import_module(module_path)
        for name in ("SOA_SERVER_SETTINGS", "settings"):
            value = getattr(module, name, None)
            if isinstance(value, Mapping):
                settings: ServerSettings = cls.build(**dict(value))
                return settings
        raise AttributeError(f"Settings module {module_path!r} defines neither SOA_SERVER_SETTINGS nor settings")


class ServerFactory(Factory[Server]):
    """Builds a server instance from :class:`ServerSettingsFactory` settings.

    Pass the class with ``server_class=`` (or subclass this factory with ``class Meta: model =
    MyServer``); the bare :class:`~pysoa_like.server.server.Server` has no ``service_name`` and
    cannot be built. Override settings per key with ``settings__<key>=...`` or whole with
    ``settings={...}`` (a plain dict still gets the local transport; a ``ServerSettings`` instance
    is used as it is); ``forked_process_id=`` is passed through. The server's transport is the
    local placeholder, so drive it with ``server.process_job(job_request_dict)`` rather than
    ``handle_next_request()``, and call ``server.close()`` when done.
    """

    class Meta:
        model = Server

    server_class: type[Server] | None = None
    settings = SubFactory(ServerSettingsFactory)  # type: ignore[no-untyped-call]  # factory_boy is unannotated

    @classmethod
    def _create(cls, model_class: type[Server], *args: Any, **kwargs: Any) -> Server:
        """Instantiate ``server_class`` if one was given, else the factory's model."""
        server_class = kwargs.pop("server_class", None) or model_class
        settings = kwargs.get("settings")
        if isinstance(settings, Mapping) and not isinstance(settings, Settings):
            # Settings given whole (not built by the sub-factory) get the local transport too.
            kwargs["settings"] = ServerSettingsFactory.build(**settings)
        return server_class(*args, **kwargs)

    @classmethod
    def _build(cls, model_class: type[Server], *args: Any, **kwargs: Any) -> Server:
        """Build exactly as :meth:`_create` does: a server has nothing to save."""
        return cls._create(model_class, *args, **kwargs)


def ActionFactory(
    body: Body | None = None, exception: BaseException | type[BaseException] | None = None
) -> type[Action]:
    """Make an action class whose ``run`` returns ``body`` or raises ``exception``.

    Named like a class for PySOA compatibility; put the result straight into ``action_class_map``.

    Args:
        body: The response body each run returns (a fresh shallow copy; ``None`` gives ``{}``).
        exception: An exception (instance or class) each run raises instead, e.g. an ``ActionError``.

    Returns:
        A new :class:`~pysoa_like.server.action.Action` subclass.
    """
    response = dict(body) if body else {}

    class FactoryAction(Action):
        """An action made by :func:`ActionFactory`."""

        def run(self, request: EnrichedActionRequest) -> Body:
            """Raise the configured exception, else return a copy of the configured body."""
            if exception is not None:
                raise exception
            return dict(response)

    return FactoryAction
