"""Private actions behind the API token middleware, called through a real Server (local transport)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from pysoa_like.auth import Identity, current_identity, make_signed_token
from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from pysoa_like.test.server import close_client, local_client_settings

REPORTS_TOKEN = "reports-token-0123456789"
ORDERS_TOKEN = "orders-token-0123456789"
KEY = "signing-key-" + "x" * 32
LOCAL = {"path": "pysoa_like.common.transport.local:LocalServerTransport"}


def _middleware(**kwargs: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "tokens": {"reports": REPORTS_TOKEN, "orders": {"token": ORDERS_TOKEN, "scopes": ["orders:write"]}},
        "signing_keys": {"main": KEY},
    }
    settings.update(kwargs)
    return {"path": "pysoa_like.auth:ApiTokenMiddleware", "kwargs": settings}


class WhoAmI(Action):
    """Says who the caller's token stands for (None on a public action)."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        identity = current_identity()
        return {"subject": identity.subject if identity else None}


class PublicWhoAmI(WhoAmI):
    pass


class PrivateWhoAmI(WhoAmI):
    private = True


class CancelOrder(WhoAmI):
    required_scopes = ("orders:write",)


class Hidden(WhoAmI):
    """Private only because the middleware's private_actions names it."""


class Vault(Server):
    service_name = "vault"
    action_class_map = {"public": PublicWhoAmI, "private": PrivateWhoAmI, "cancel": CancelOrder, "hidden": Hidden}


def _client(middleware: list[dict[str, Any]] | None = None, **client_settings: Any) -> Client:
    settings = local_client_settings(Vault, {"transport": LOCAL, "middleware": middleware or [_middleware()]})
    settings["vault"].update(client_settings)
    return Client(settings)


@pytest.fixture
def client() -> Iterator[Client]:
    client = _client([_middleware(private_actions=["hidden"])])
    yield client
    close_client(client)


def _error(client: Client, action: str, **kwargs: Any) -> tuple[str, str, bool]:
    with pytest.raises(CallActionError) as raised:
        client.call_action("vault", action, **kwargs)
    (error,) = raised.value.actions[0].errors
    return error.code, error.message, error.is_caller_error


def test_public_actions_need_no_token(client: Client) -> None:
    """A public action runs with or without a token, and sees no identity (its token is not even checked)."""
    assert client.call_action("vault", "public").body == {"subject": None}
    assert client.call_action("vault", "public", context={"api_token": "garbage"}).body == {"subject": None}


def test_a_private_action_without_a_token_is_a_caller_error_auth_required(client: Client) -> None:
    """No token: AUTH_REQUIRED, a caller error saying where the token goes."""
    code, message, caller = _error(client, "private")
    assert (code, caller) == ("AUTH_REQUIRED", True)
    assert message == "Action private is private: send an API token in the request context (api_token)"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("wrong-token-0123456789", "unknown token"),
        (make_signed_token("another-key-" + "y" * 32, "x", 60), "bad signature"),
        (make_signed_token(KEY, "x", 10, now=0), "expired"),
        (12345, "it is not a string"),
    ],
)
def test_a_refused_token_is_a_caller_error_auth_invalid(client: Client, token: Any, reason: str) -> None:
    """Unknown, badly signed, expired or non-string tokens: AUTH_INVALID with the reason (and not the token)."""
    code, message, caller = _error(client, "private", context={"api_token": token})
    assert (code, caller) == ("AUTH_INVALID", True)
    assert message.startswith("The API token was refused: ") and reason in message
    assert str(token) not in message


def test_a_valid_token_runs_the_private_action_with_its_identity(client: Client) -> None:
    """Static and signed tokens both pass; the action reads who called through current_identity()."""
    assert client.call_action("vault", "private", context={"api_token": REPORTS_TOKEN}).body == {"subject": "reports"}
    signed = make_signed_token(KEY, "gateway", 60)
    assert client.call_action("vault", "private", context={"api_token": signed}).body == {"subject": "gateway"}
    assert current_identity() is None


def test_required_scopes_give_access_denied_to_tokens_without_them(client: Client) -> None:
    """A valid token lacking a required scope: ACCESS_DENIED naming the subject and the scope; with it, it runs."""
    code, message, caller = _error(client, "cancel", context={"api_token": REPORTS_TOKEN})
    assert (code, caller) == ("ACCESS_DENIED", True)
    assert message == "The API token of reports lacks the scope(s) orders:write that action cancel requires"
    assert client.call_action("vault", "cancel", context={"api_token": ORDERS_TOKEN}).body == {"subject": "orders"}
    admin = make_signed_token(KEY, "admin", 60, scopes=["*"])
    assert client.call_action("vault", "cancel", context={"api_token": admin}).body == {"subject": "admin"}


def test_private_actions_setting_makes_any_action_private(client: Client) -> None:
    """An action named in private_actions needs a token though its class does not say so."""
    assert _error(client, "hidden")[0] == "AUTH_REQUIRED"
    assert client.call_action("vault", "hidden", context={"api_token": REPORTS_TOKEN}).body == {"subject": "reports"}


def test_each_action_of_a_job_is_checked_on_its_own(client: Client) -> None:
    """In one job, the public action runs and the private one fails (continue_on_error)."""
    response = client.call_actions(
        "vault", [{"action": "public"}, {"action": "private"}], continue_on_error=True, raise_action_errors=False
    )
    assert response.actions[0].body == {"subject": None} and not response.actions[0].errors
    assert [e.code for e in response.actions[1].errors] == ["AUTH_REQUIRED"]


def test_the_client_setting_sends_the_token_and_a_call_context_wins() -> None:
    """api_token in the client settings goes with every request; a call's own context api_token overrides it."""
    client = _client(api_token=REPORTS_TOKEN)
    try:
        assert client.call_action("vault", "private").body == {"subject": "reports"}
        assert client.call_action("vault", "private", context={"api_token": ORDERS_TOKEN}).body == {"subject": "orders"}
    finally:
        close_client(client)


def test_the_client_setting_wins_over_the_clients_base_context() -> None:
    """A client built with context={'api_token': ...} (as request.client inherits one) sends its setting's token."""
    settings = local_client_settings(Vault, {"transport": LOCAL, "middleware": [_middleware()]})
    settings["vault"]["api_token"] = ORDERS_TOKEN
    client = Client(settings, context={"api_token": REPORTS_TOKEN})
    try:
        assert client.call_action("vault", "private").body == {"subject": "orders"}
    finally:
        close_client(client)


class Relay(Action):
    """Calls the vault's private action from inside another service."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return dict(request.client.call_action("vault", "private").body)


def _relay_client(vault_settings: dict[str, Any]) -> Client:
    class RelayServer(Server):
        service_name = "relay"
        action_class_map = {"relay": Relay}

    routing = local_client_settings(Vault, {"transport": LOCAL, "middleware": [_middleware()]})
    routing["vault"].update(vault_settings)
    return Client(local_client_settings(RelayServer, {"transport": LOCAL, "client_routing": routing}))


def test_a_service_inside_the_fleet_calls_with_its_own_token() -> None:
    """The relay's client_routing gives its own token for the vault: the vault sees the relay, not the caller."""
    client = _relay_client({"api_token": ORDERS_TOKEN})
    try:
        assert client.call_action("relay", "relay", context={"api_token": REPORTS_TOKEN}).body == {"subject": "orders"}
    finally:
        close_client(client)


def test_without_its_own_token_a_nested_call_forwards_the_callers() -> None:
    """Context keys chain into nested calls (PySOA's rule), the token too, unless the service sets its own."""
    client = _relay_client({})
    try:
        assert client.call_action("relay", "relay", context={"api_token": REPORTS_TOKEN}).body == {"subject": "reports"}
        with pytest.raises(CallActionError) as raised:
            client.call_action("relay", "relay")
        assert "AUTH_REQUIRED" in str(raised.value)
    finally:
        close_client(client)


def test_introspection_shows_which_actions_are_private_and_their_scopes(client: Client) -> None:
    """introspect marks private actions (and their scopes); public ones carry no such key."""
    actions = client.call_action("vault", "introspect").body["actions"]
    assert actions["private"]["private"] is True and actions["private"]["required_scopes"] == []
    assert actions["cancel"]["required_scopes"] == ["orders:write"]
    assert actions["hidden"]["private"] is True
    assert "private" not in actions["public"] and "private" not in actions["status"]
    one = client.call_action("vault", "introspect", {"action_name": "cancel"}).body["actions"]["cancel"]
    assert one["private"] is True


def test_introspection_of_a_service_without_private_actions_is_unchanged() -> None:
    """Without the middleware nothing is marked (PySOA's exact introspection schema)."""

    class Open(Server):
        service_name = "open"
        action_class_map = {"public": PublicWhoAmI}

    client = Client(local_client_settings(Open, {"transport": LOCAL}))
    try:
        actions = client.call_action("open", "introspect").body["actions"]
        assert set(actions["public"]) == {"documentation", "request_schema", "response_schema"}
    finally:
        close_client(client)


def test_private_actions_without_the_middleware_log_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A server whose actions are marked private but that checks no token says so at startup."""
    with caplog.at_level(logging.WARNING, logger="pysoa_like.server"):
        Vault({"transport": LOCAL})
    assert "Actions cancel, private of service vault are marked private, but no API token middleware" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pysoa_like.server"):
        Vault({"transport": LOCAL, "middleware": [_middleware()]})
    assert "marked private" not in caplog.text


def _failing_verifier(token: str) -> Identity:
    raise RuntimeError(f"the user database is down (looking up {token})")


def test_a_failing_verifier_is_a_server_error_and_its_log_masks_the_token(caplog: pytest.LogCaptureFixture) -> None:
    """A verifier that raises gives SERVER_ERROR (not a caller error); the logged traceback has the token masked."""
    secret = "a-token-nobody-may-see-123"
    client = _client([{"path": "pysoa_like.auth:ApiTokenMiddleware", "kwargs": {"verifier": _failing_verifier}}])
    try:
        with caplog.at_level(logging.DEBUG):
            code, message, caller = _error(client, "private", context={"api_token": secret})
    finally:
        close_client(client)
    assert (code, caller) == ("SERVER_ERROR", False)
    assert message == "Could not check the API token: the verifier failed (RuntimeError)"
    assert "the user database is down (looking up **********)" in caplog.text
    assert secret not in caplog.text


def test_refusals_are_logged_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    """Each refusal logs a warning naming the action and the reason, never the token."""
    client = _client()
    try:
        with caplog.at_level(logging.WARNING, logger="pysoa_like.auth"):
            _error(client, "private", context={"api_token": "wrong-token-0123456789"})
    finally:
        close_client(client)
    assert "Refused a call to private: unknown token" in caplog.text
    assert "wrong-token-0123456789" not in caplog.text
