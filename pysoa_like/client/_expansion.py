"""Running expansions: fetch the objects that responses refer to and store them in place.

Each round groups the ids still to fetch by route, sends one request per route (all routes at once,
then collects the replies by request id) and stores the fetched objects. As in PySOA, a fetched object
is then searched for the next round twice over: for the children of the expansion that fetched it
(``"publisher.address.country"``), and for every type of the call's ``expansions``, so type-keyed
expansions apply at any depth (``{"book": ["publisher"], "publisher": ["address"]}`` expands the
publisher a book's expansion brought). An id already fetched on a route is never fetched again, and an
object is not expanded further when the same route and id already appear in the chain of expansions
that led to it, so cyclic data (an author's books whose author is that author) ends.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pysoa_like.client._handler import ServiceHandler
from pysoa_like.client._headers import make_control_header
from pysoa_like.client.errors import CallActionError, CallJobError, InvalidExpansionKey
from pysoa_like.client.expander import ExpansionConverter, ExpansionNode
from pysoa_like.common.types import ActionRequest, ActionResponse, JobRequest

__all__ = ["perform_expansions"]

# (service, action, request_field, response_field)
_RouteKey = tuple[str, str, str, str]
# A pending expansion whose id is known: object, expansion, route, id, chain (see _Pending).
_Ready = tuple[dict[str, Any], ExpansionNode, _RouteKey, Any, frozenset[tuple[_RouteKey, Any]]]

_MISSING = object()


def _lookup(objects: Any, value: Any) -> Any:
    """Find ``value`` among the keys of a route's response map (JSON turns int keys into strings)."""
    if not isinstance(objects, Mapping):
        return _MISSING
    if value in objects:
        return objects[value]
    return objects.get(str(value), _MISSING)


def perform_expansions(
    converter: ExpansionConverter | None,
    get_handler: Callable[[str], ServiceHandler],
    actions: Iterable[ActionResponse],
    expansions: Mapping[str, Any] | None,
    context: Mapping[str, Any],
    control_extra: Mapping[str, Any] | None,
    timeout: float | None,
) -> None:
    """Expand, in place, the objects found in ``actions``' bodies.

    Args:
        converter: The client's expansion converter (``None`` when it has no expansion config).
        get_handler: Returns the client's handler for a service.
        actions: The action responses whose bodies are searched.
        expansions: ``{type: ["expansion", "expansion.sub", ...]}``.
        context: The context header of the original request (correlation id, switches and extra
            keys travel on to the expansion requests).
        control_extra: The original call's ``control_extra``.
        timeout: The original call's timeout (message expiry and receive wait).

    Raises:
        InvalidExpansionKey: ``expansions`` names an unknown type or expansion.
        CallJobError: An expansion request that has ``raise_action_errors`` failed with job errors.
        CallActionError: An expansion request that has ``raise_action_errors`` failed with action errors.
    """
    if not expansions or converter is None:
        return
    try:
        trees = converter.dict_to_trees(expansions)
    except KeyError as exc:
        raise InvalidExpansionKey(f"Invalid key in expansion request: {exc.args[0]}") from exc
    pending: list[_Pending] = []
    for action in actions:
        for tree in trees:
            _add_pending(pending, tree, action.body, frozenset())
    fetched: dict[_RouteKey, dict[Any, Any]] = {}
    errors: list[Exception] = []
    while pending:
        ready, wanted, raising = _plan_round(pending, fetched)
        _fetch(get_handler, wanted, raising, fetched, errors, context, control_extra, timeout)
        pending = []
        for obj, node, key, value, chain in ready:
            item = fetched[key].get(value, _MISSING)
            if item is _MISSING:
                continue
            # A copy per destination: the cached original is reused by later rounds, and sharing it
            # would let a nested expansion store an object inside itself (a cycle no serializer survives).
            item = obj[node.destination_field] = copy.deepcopy(item)
            if (key, value) in chain:
                continue  # this object is its own ancestor: expanding it again would never end
            chain = chain | {(key, value)}
            _add_pending(pending, node, item, chain)
            for tree in trees:
                _add_pending(pending, tree, item, chain)
    if errors:
        raise errors[0]


# An object to expand, the expansion, and the (route, id) pairs of the expansions that brought it.
_Pending = tuple[dict[str, Any], ExpansionNode, frozenset[tuple[_RouteKey, Any]]]


def _add_pending(pending: list[_Pending], node: Any, body: Any, chain: frozenset[tuple[_RouteKey, Any]]) -> None:
    """Queue ``node``'s expansions for every object of ``node``'s type found in ``body``."""
    expansions = node.expansions
    if expansions:
        for obj in node.find_objects(body):
            pending.extend((obj, expansion, chain) for expansion in expansions)


def _plan_round(
    pending: list[_Pending], fetched: dict[_RouteKey, dict[Any, Any]]
) -> tuple[list[_Ready], dict[_RouteKey, list[Any]], set[_RouteKey]]:
    ready: list[_Ready] = []
    wanted: dict[_RouteKey, dict[Any, None]] = {}
    raising: set[_RouteKey] = set()
    planned: set[tuple[int, str]] = set()
    for obj, node, chain in pending:
        target = (id(obj), node.destination_field)
        if node.destination_field in obj or target in planned:
            continue  # already expanded, or asked twice (by its expansion's children and by its type)
        planned.add(target)
        value = obj.get(node.source_field)
        if not value:
            continue
        try:
            hash(value)
        except TypeError:
            continue
        key = (node.service, node.action, node.request_field, node.response_field)
        ready.append((obj, node, key, value, chain))
        if node.raise_action_errors:
            raising.add(key)
        if value not in fetched.setdefault(key, {}):
            wanted.setdefault(key, {})[value] = None
    return ready, {key: list(values) for key, values in wanted.items()}, raising


def _fetch(
    get_handler: Callable[[str], ServiceHandler],
    wanted: dict[_RouteKey, list[Any]],
    raising: set[_RouteKey],
    fetched: dict[_RouteKey, dict[Any, Any]],
    errors: list[Exception],
    context: Mapping[str, Any],
    control_extra: Mapping[str, Any] | None,
    timeout: float | None,
) -> None:
    sent: list[tuple[_RouteKey, ServiceHandler, int]] = []
    try:
        for key, values in wanted.items():
            service, action, request_field, _response_field = key
            handler = get_handler(service)
            job = JobRequest(
                control=make_control_header(False, False, control_extra, timeout),
                context=dict(context),
                actions=[ActionRequest(action=action, body={request_field: values})],
            )
            sent.append((key, handler, handler.send_tracked_request(job, timeout)))
        while sent:
            key, handler, request_id = sent.pop(0)
            response = handler.get_response(request_id, timeout)
            table = fetched[key]
            error: Exception | None = None
            if response.errors:
                error = CallJobError(response.errors)
            elif not response.actions or response.actions[0].errors:
                error = CallActionError([a for a in response.actions if a.errors])
            if error is not None:
                if key in raising:
                    errors.append(error)
                for value in wanted[key]:
                    table[value] = _MISSING
                continue
            objects = response.actions[0].body.get(key[3])
            for value in wanted[key]:
                table[value] = _lookup(objects, value)
    finally:
        for _key, handler, request_id in sent:
            handler.forget(request_id)
