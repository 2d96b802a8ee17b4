"""Expansions: configuration and the trees that describe which objects to expand, and how.

An *expansion* fills a field of an object found in a response (a dict whose ``_type`` names its
type) with an object fetched from another service, using an id the object already holds. The
configuration has two parts:

``type_routes``
    ``{route: {"service", "action", "request_field", "response_field"}}``: how to fetch objects.
    The action gets ``{request_field: [ids]}`` and answers ``{response_field: {id: object}}``.
``type_expansions``
    ``{type: {expansion: {"type", "route", "source_field", "destination_field",
    "raise_action_errors"?}}}``: for objects of ``type``, the expansion named ``expansion`` reads the
    id from ``source_field``, fetches it through ``route`` and stores the result in
    ``destination_field``. ``type`` (nullable) is the type of the fetched object, which lets it be
    expanded further (``"expansion.sub_expansion"``).

Performing expansions (:func:`perform_expansions`, run by the client after a call's reply): each round
groups the ids still to fetch by route, sends one request per route (all routes at once, then collects
the replies by request id) and stores the fetched objects. As in PySOA, a fetched object is then
searched for the next round twice over: for the children of the expansion that fetched it
(``"publisher.address.country"``), and for every type of the call's ``expansions``, so type-keyed
expansions apply at any depth (``{"book": ["publisher"], "publisher": ["address"]}`` expands the
publisher a book's expansion brought). An id already fetched on a route is never fetched again, and an
object is not expanded further when the same route and id already appear in the chain of expansions
that led to it, so cyclic data (an author's books whose author is that author) ends.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pysoa_like.client.errors import CallActionError, CallJobError, InvalidExpansionKey
from pysoa_like.common import fields
from pysoa_like.common.settings import Settings
from pysoa_like.common.types import ActionRequest, ActionResponse

if TYPE_CHECKING:
    from pysoa_like.client.client import CallOptions

__all__ = [
    "ExpansionConverter",
    "ExpansionNode",
    "ExpansionRounds",
    "ExpansionSettings",
    "TypeNode",
    "perform_expansions",
]


def _route_schema() -> fields.Dictionary:
    """One ``type_routes`` entry: where the objects of a route are fetched, and how."""
    return fields.Dictionary(
        {
            "service": fields.UnicodeString(description="The service called to fetch the objects"),
            "action": fields.UnicodeString(description="The action called, given the ids in one list field"),
            "request_field": fields.UnicodeString(description="The request field receiving the list of ids"),
            "response_field": fields.UnicodeString(description="The response field holding the objects by id"),
        },
        description="How to fetch the objects of this route",
    )


def _expansion_schema() -> fields.Dictionary:
    """One expansion of a type: the route it fetches through and the fields it reads and fills."""
    return fields.Dictionary(
        {
            "type": fields.Nullable(fields.UnicodeString(description="The fetched object's type (None: no further)")),
            "route": fields.UnicodeString(description="The type_routes entry fetching the object"),
            "source_field": fields.UnicodeString(description="The field holding the id of the object to fetch"),
            "destination_field": fields.UnicodeString(description="The field receiving the fetched object"),
            "raise_action_errors": fields.Boolean(description="Raise the route's action errors (default False)"),
        },
        optional_keys=("raise_action_errors",),
        description="One expansion of objects of this type",
    )


class ExpansionSettings(Settings):
    """The validated, read-only expansion configuration (``type_routes`` and ``type_expansions``).

    A settings class like the others (PySOA's is a Conformity settings class): the class attributes ``schema``
    and ``defaults`` describe it, and ``set(data)`` replaces its contents after validating them. Both keys
    default to ``{}``.

    Args:
        data: The configuration dict; it is validated here and never modified.

    Raises:
        SettingsError: (``ExpansionSettings.ImproperlyConfigured``) A key is missing, unknown or of the wrong type, a
            ``route`` names no ``type_routes`` entry, or a ``destination_field`` equals its
            ``source_field``. The message names the key path.
    """

    schema = {
        "type_routes": fields.SchemalessDictionary(
            key_type=fields.UnicodeString(description="The route's name, used by type_expansions"),
            value_type=_route_schema(),
            description="The routes objects are fetched through, by name",
        ),
        "type_expansions": fields.SchemalessDictionary(
            key_type=fields.UnicodeString(description="The type (the _type of response objects) expanded"),
            value_type=fields.SchemalessDictionary(
                key_type=fields.UnicodeString(description="The expansion's name, as callers request it"),
                value_type=_expansion_schema(),
                description="The expansions of objects of this type, by name",
            ),
            description="The expansions available, by type",
        ),
    }

    defaults = {"type_routes": {}, "type_expansions": {}}

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        problems = [
            problem
            for type_name, expansions in self["type_expansions"].items()
            for name, config in expansions.items()
            for problem in self._expansion_problems(f"type_expansions.{type_name}.{name}", config)
        ]
        if problems:
            details = "".join(f"\n  - {problem}" for problem in problems)
            raise self.ImproperlyConfigured(f"Invalid {type(self).__name__}:{details}")

    def _expansion_problems(self, path: str, config: Mapping[str, Any]) -> Iterator[str]:
        """What the schema cannot see wrong with one expansion: its route unknown, its fields the same."""
        if config["route"] not in self["type_routes"]:
            yield f"{path}.route: no type route named {config['route']!r}"
        if config["destination_field"] == config["source_field"]:
            yield f"{path}.destination_field: must differ from source_field {config['source_field']!r}"


class TypeNode:
    """The root of an expansion tree: a type and the expansions requested for objects of that type.

    Args:
        node_type: The type name (matched against the ``_type`` key of response objects).
    """

    def __init__(self, node_type: str | None) -> None:
        self.type = node_type
        self._expansions: dict[str, ExpansionNode] = {}

    def add_expansion(self, expansion_node: ExpansionNode) -> None:
        """Add a child expansion; if one of the same name exists, merge the new one's children into it."""
        existing = self._expansions.get(expansion_node.name)
        if existing is None:
            self._expansions[expansion_node.name] = expansion_node
        else:
            for child in expansion_node.expansions:
                existing.add_expansion(child)

    def get_expansion(self, expansion_name: str) -> ExpansionNode | None:
        """The child expansion named ``expansion_name``, or ``None``."""
        return self._expansions.get(expansion_name)

    @property
    def expansions(self) -> list[ExpansionNode]:
        """The child expansions, in the order they were added."""
        return list(self._expansions.values())

    def find_objects(self, obj: Any) -> list[dict[str, Any]]:
        """Find the dicts in ``obj`` (searched recursively through dicts and lists) whose ``_type`` is this type.

        The search does not descend into a matching dict.

        Args:
            obj: A response body or any part of it.

        Returns:
            The matching dicts, in depth-first order.
        """
        found: list[dict[str, Any]] = []
        stack = [obj]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if item.get("_type") == self.type:
                    found.append(item)
                else:
                    stack.extend(reversed(list(item.values())))
            elif isinstance(item, list):
                stack.extend(reversed(item))
        return found

    def to_dict(self) -> dict[str | None, list[str]]:
        """This tree as an expansions argument: ``{type: ["expansion", "expansion.sub", ...]}``."""
        strings: list[str] = []
        for expansion in self._expansions.values():
            strings.extend(expansion.to_strings())
        return {self.type: strings}


class ExpansionNode(TypeNode):
    """One expansion in a tree; its children expand the objects it fetches.

    Args:
        node_type: The type of the fetched objects (``None`` when they cannot be expanded further).
        name: The expansion's name.
        source_field: The field of the expanded object holding the id.
        destination_field: The field that receives the fetched object.
        service: The service to call.
        action: The action to call.
        request_field: The request body field receiving the list of ids.
        response_field: The response body field holding ``{id: object}``.
        raise_action_errors: Whether a failure of the fetching call is raised to the caller.
    """

    def __init__(
        self,
        node_type: str | None,
        name: str,
        source_field: str,
        destination_field: str,
        service: str,
        action: str,
        request_field: str,
        response_field: str,
        raise_action_errors: bool = True,
    ) -> None:
        super().__init__(node_type)
        self.name = name
        self.source_field = source_field
        self.destination_field = destination_field
        self.service = service
        self.action = action
        self.request_field = request_field
        self.response_field = response_field
        self.raise_action_errors = raise_action_errors

    def to_strings(self) -> list[str]:
        """The dotted expansion strings of this node's leaves, e.g. ``["author.employer", "author.books"]``."""
        if not self._expansions:
            return [self.name]
        return [f"{self.name}.{child}" for expansion in self._expansions.values() for child in expansion.to_strings()]


class ExpansionConverter:
    """Converts between the ``expansions`` argument of client calls and expansion trees.

    Args:
        type_routes: The ``type_routes`` configuration.
        type_expansions: The ``type_expansions`` configuration.
    """

    def __init__(self, type_routes: Mapping[str, Any], type_expansions: Mapping[str, Any]) -> None:
        self.type_routes = type_routes
        self.type_expansions = type_expansions

    def dict_to_trees(self, expansion_dict: Mapping[str, Any]) -> list[TypeNode]:
        """Build one tree per type from ``{type: ["expansion", "expansion.sub", ...]}``.

        Raises:
            KeyError: A type or expansion name is not configured (the client turns it into
                :class:`~pysoa_like.client.errors.InvalidExpansionKey`).
            ValueError: A configured expansion's destination field equals its source field.
        """
        trees: list[TypeNode] = []
        for type_name, expansion_strings in expansion_dict.items():
            root = TypeNode(type_name)
            for expansion_string in expansion_strings:
                node: TypeNode = root
                for name in expansion_string.split("."):
                    child = node.get_expansion(name)
                    if child is None:
                        child = self._make_node(node.type, name)
                        node.add_expansion(child)
                    node = child
            trees.append(root)
        return trees

    def _make_node(self, parent_type: str | None, name: str) -> ExpansionNode:
        config = self.type_expansions[parent_type][name]  # type: ignore[index]
        route = self.type_routes[config["route"]]
        if config["destination_field"] == config["source_field"]:
            raise ValueError(
                f"Expansion {parent_type}.{name}: destination_field must differ from source_field "
                f"{config['source_field']!r}"
            )
        return ExpansionNode(
            node_type=config["type"],
            name=name,
            source_field=config["source_field"],
            destination_field=config["destination_field"],
            service=route["service"],
            action=route["action"],
            request_field=route["request_field"],
            response_field=route["response_field"],
            raise_action_errors=config.get("raise_action_errors", False),
        )

    @staticmethod
    def trees_to_dict(trees_list: list[TypeNode]) -> dict[str | None, list[str]]:
        """The inverse of :meth:`dict_to_trees`."""
        result: dict[str | None, list[str]] = {}
        for tree in trees_list:
            result.update(tree.to_dict())
        return result


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


class SendPath(Protocol):
    """The client's send path, through which an expansion request is sent with the options of its rounds."""

    def __call__(self, service_name: str, actions: list[ActionRequest], options: CallOptions) -> Any: ...


class CallPath(Protocol):
    """The client's call path, through which expansion requests are sent and collected."""

    def __call__(self, service_name: str, request_id: Any, timeout: float | None) -> Any: ...


class ExpansionRounds:
    """The expansions of one call's reply, round by round, with no I/O (both clients drive it).

    ``next_round()`` gives the requests of a round (route -> ids); the driver sends one request per route
    (:meth:`request_of`), hands each reply to :meth:`store`, and asks for the next round until there is none.

    Args:
        converter: The client's expansion converter (``None`` when it has no expansion config).
        actions: The action responses whose bodies are searched.
        expansions: ``{type: ["expansion", "expansion.sub", ...]}``.
        context: The context header of the original request (correlation id, switches and extra keys travel on
            to the expansion requests).
        control_extra: The original call's ``control_extra``.
        timeout: The original call's timeout (message expiry and receive wait).

    Raises:
        InvalidExpansionKey: ``expansions`` names an unknown type or expansion.
    """

    def __init__(
        self,
        converter: ExpansionConverter | None,
        actions: Iterable[ActionResponse],
        expansions: Mapping[str, Any] | None,
        context: Mapping[str, Any],
        control_extra: Mapping[str, Any] | None,
        timeout: float | None,
    ) -> None:
        self._trees: list[TypeNode] = []
        self._pending: list[_Pending] = []
        self._fetched: dict[_RouteKey, dict[Any, Any]] = {}
        self._errors: list[Exception] = []
        self._ready: list[_Ready] = []
        self._wanted: dict[_RouteKey, list[Any]] = {}
        self._raising: set[_RouteKey] = set()
        from pysoa_like.client.client import CallOptions  # (a cycle at import: client.py imports this module)

        #: The options of every expansion request.
        self.options = CallOptions(
            correlation_id=context.get("correlation_id"), context=context, control_extra=control_extra, timeout=timeout
        )
        if not expansions or converter is None:
            return
        try:
            self._trees = converter.dict_to_trees(expansions)
        except KeyError as exc:
            raise InvalidExpansionKey(f"Invalid key in expansion request: {exc.args[0]}") from exc
        for action in actions:
            for tree in self._trees:
                _add_pending(self._pending, tree, action.body, frozenset())

    def next_round(self) -> dict[_RouteKey, list[Any]] | None:
        """The requests of the next round (route -> ids to fetch; maybe none), or ``None`` when all is done.

        Raises:
            CallJobError, CallActionError: The first failure of an expansion that has ``raise_action_errors``,
                once every round is done.
        """
        self._apply()
        if not self._pending:
            if self._errors:
                raise self._errors[0]
            return None
        self._ready, self._wanted, self._raising = _plan_round(self._pending, self._fetched)
        self._pending = []
        return self._wanted

    @staticmethod
    def request_of(key: _RouteKey, values: list[Any]) -> tuple[str, list[ActionRequest]]:
        """The service and actions of the request fetching ``values`` on route ``key``."""
        service, action, request_field, _response_field = key
        return service, [ActionRequest(action=action, body={request_field: values})]

    def store(self, key: _RouteKey, response: Any) -> None:
        """Store what one route's reply (a ``JobResponse``) fetched in this round."""
        table = self._fetched[key]
        wanted = self._wanted[key]
        error: Exception | None = None
        if response.errors:
            error = CallJobError(response.errors)
        elif not response.actions or response.actions[0].errors:
            error = CallActionError([a for a in response.actions if a.errors])
        if error is not None:
            if key in self._raising:
                self._errors.append(error)
            for value in wanted:
                table[value] = _MISSING
            return
        objects = response.actions[0].body.get(key[3])
        for value in wanted:
            table[value] = _lookup(objects, value)

    def _apply(self) -> None:
        """Put the last round's objects in place, and queue the expansions they bring."""
        ready, self._ready = self._ready, []
        pending = self._pending
        for obj, node, key, value, chain in ready:
            item = self._fetched[key].get(value, _MISSING)
            if item is _MISSING:
                continue
            # A copy per destination: the cached original is reused by later rounds, and sharing it
            # would let a nested expansion store an object inside itself (a cycle no serializer survives).
            item = obj[node.destination_field] = copy.deepcopy(item)
            if (key, value) in chain:
                continue  # this object is its own ancestor: expanding it again would never end
            chain = chain | {(key, value)}
            _add_pending(pending, node, item, chain)
            for tree in self._trees:
                _add_pending(pending, tree, item, chain)


def perform_expansions(
    converter: ExpansionConverter | None,
    send: SendPath,
    wait: CallPath,
    forget: Callable[[str, Any], None],
    actions: Iterable[ActionResponse],
    expansions: Mapping[str, Any] | None,
    context: Mapping[str, Any],
    control_extra: Mapping[str, Any] | None,
    timeout: float | None,
) -> None:
    """Expand, in place, the objects found in ``actions``' bodies (drives :class:`ExpansionRounds` with blocking calls).

    Each round's requests go out through the client's own call path (``send``, then ``wait`` for each
    reply by request id, ``forget`` for those left when a round fails), so they are calls like any other.

    Args:
        converter: The client's expansion converter (``None`` when it has no expansion config).
        send: Sends one job (the client's ``_send``): ``(service, actions, options) -> request_id``.
        wait: Collects one reply (the client's ``_wait``).
        forget: Stops waiting for a request (the client's ``_forget``).
        actions: The action responses whose bodies are searched.
        expansions: ``{type: ["expansion", "expansion.sub", ...]}``.
        context: The context header of the original request.
        control_extra: The original call's ``control_extra``.
        timeout: The original call's timeout (message expiry and receive wait).

    Raises:
        InvalidExpansionKey: ``expansions`` names an unknown type or expansion.
        CallJobError: An expansion request that has ``raise_action_errors`` failed with job errors.
        CallActionError: An expansion request that has ``raise_action_errors`` failed with action errors.
    """
    if not expansions or converter is None:
        return
    rounds = ExpansionRounds(converter, actions, expansions, context, control_extra, timeout)
    options = rounds.options
    while (wanted := rounds.next_round()) is not None:
        sent: list[tuple[_RouteKey, int]] = []
        try:
            for key, values in wanted.items():
                service, requests = rounds.request_of(key, values)
                sent.append((key, send(service, requests, options)))
            while sent:
                key, request_id = sent[0]
                response = wait(key[0], request_id, options.timeout)
                sent.pop(0)
                rounds.store(key, response)
        finally:
            for key, request_id in sent:
                forget(key[0], request_id)


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
