"""The local transport's settings, as a client meets them."""

from __future__ import annotations

import pytest

from pysoa_like.client.client import Client
from pysoa_like.server.server import Server

_LOCAL = "pysoa_like.common.transport.local:LocalClientTransport"


class _SvcServer(Server):
    service_name = "svc"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (
            {"server_class": "no_such_module:Server", "server_settings": {}},
            "server_class 'no_such_module:Server' of the local transport for service 'svc' cannot be imported: "
            "No module named 'no_such_module'",
        ),
        (
            {"server_class": "pysoa_like.server.server:NoSuchServer", "server_settings": {}},
            "server_class 'pysoa_like.server.server:NoSuchServer' of the local transport for service 'svc' cannot be "
            "imported: ",
        ),
        (
            {"server_class": _SvcServer, "server_settings": "no_such_module.SETTINGS"},
            "server_settings 'no_such_module.SETTINGS' of the local transport for service 'svc' cannot be imported: ",
        ),
    ],
)
def test_an_import_path_that_names_nothing_is_a_settings_error_naming_it(kwargs: dict[str, object], words: str) -> None:
    """A mistyped ``server_class`` or ``server_settings`` path fails the first call with a ValueError naming the setting
    and the service (it was the import's bare ModuleNotFoundError or AttributeError)."""
    client = Client({"svc": {"transport": {"path": _LOCAL, "kwargs": kwargs}}})
    with pytest.raises(ValueError) as caught:
        client.call_action("svc", "anything")
    assert str(caught.value).startswith(words), caught.value
