"""``SwitchedAction``: pick the concrete action for a request from its active switches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pysoa_like.common.types import ActionResponse
from pysoa_like.server.internal.types import get_switch, is_switch
from pysoa_like.server.types import ActionType, EnrichedActionRequest

__all__ = ["SwitchedAction"]


class _DefaultAction:
    """The marker for the fallback entry of ``switch_to_action_map``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SwitchedAction.DEFAULT_ACTION"


_DEFAULT_ACTION = _DefaultAction()


class SwitchedAction:
    """An action that delegates to one of several actions depending on the request's switches.

    ``switch_to_action_map`` is a sequence of at least two ``(switch, action_class)`` pairs. The first
    pair whose switch is active wins (a switch equal to 0 works, unlike in PySOA); otherwise the pair
    whose switch is ``DEFAULT_ACTION`` is used; otherwise the last pair.

    Example::

        class UserAction(SwitchedAction):
            switch_to_action_map = (
                (USE_NEW_USER_STORE, NewUserAction),
                (SwitchedAction.DEFAULT_ACTION, OldUserAction),
            )

    Args:
        settings: The server settings, passed on to the chosen action.

    Raises:
        ValueError: At class creation, if the map is malformed (as PySOA raises).
        TypeError: At class creation, if ``__call__`` or ``DEFAULT_ACTION`` is overridden or the class
            has more than one base; at instantiation, for ``SwitchedAction`` itself (it is abstract).
    """

    DEFAULT_ACTION: ClassVar[Any] = _DEFAULT_ACTION
    switch_to_action_map: ClassVar[tuple[tuple[Any, ActionType], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if len(cls.__bases__) != 1:
            raise TypeError(f"{cls.__name__}: switched actions cannot use multiple inheritance")
        if "__call__" in cls.__dict__:
            raise TypeError(f"{cls.__name__}: switched actions must not override __call__")
        if cls.DEFAULT_ACTION is not _DEFAULT_ACTION:
            raise TypeError(f"{cls.__name__}: SwitchedAction.DEFAULT_ACTION must not be overridden")
        entries = cls.switch_to_action_map
        if not isinstance(entries, tuple | list) or len(entries) < 2:
            raise ValueError(f"{cls.__name__}.switch_to_action_map must hold at least two (switch, action) pairs")
        for entry in entries:
            if not isinstance(entry, tuple | list) or len(entry) != 2:
                raise ValueError(f"{cls.__name__}.switch_to_action_map entries must be (switch, action) pairs")
            switch, action = entry
            if switch is not _DEFAULT_ACTION and not is_switch(switch):
                raise ValueError(f"{cls.__name__}: {switch!r} is neither a switch nor SwitchedAction.DEFAULT_ACTION")
            if not callable(action):
                raise ValueError(f"{cls.__name__}: {action!r} is not an action class")

    def __init__(self, settings: Any = None) -> None:
        if type(self) is SwitchedAction:
            raise TypeError("SwitchedAction is abstract: subclass it with a switch_to_action_map")
        self.settings = settings

    def get_uninitialized_action(self, action_request: EnrichedActionRequest) -> ActionType:
        """The action class to use for this request (not yet instantiated).

        Args:
            action_request: The request, whose ``switches`` decide.

        Returns:
            The chosen action class.
        """
        default: ActionType | None = None
        for switch, action in self.switch_to_action_map:
            if switch is _DEFAULT_ACTION:
                if default is None:
                    default = action
            elif action_request.switches.is_active(switch):
                return action
        return default if default is not None else self.switch_to_action_map[-1][1]

    def __call__(self, action_request: EnrichedActionRequest) -> ActionResponse:
        """Run the chosen action with this action's settings."""
        return self.get_uninitialized_action(action_request)(self.settings)(action_request)

    @classmethod
    def iterate_switched_actions(cls, action_name: str) -> Iterator[tuple[str, ActionType]]:
        """Introspection names and classes of the entries: ``name[switch:N]`` and ``name[DEFAULT]``.

        Args:
            action_name: The name the switched action is served under.

        Yields:
            ``(name, action_class)`` pairs, in map order. Without an explicit default, the last entry
            is the default.
        """
        has_default = any(switch is _DEFAULT_ACTION for switch, _ in cls.switch_to_action_map)
        last = len(cls.switch_to_action_map) - 1
        for index, (switch, action) in enumerate(cls.switch_to_action_map):
            if switch is _DEFAULT_ACTION or (not has_default and index == last):
                yield f"{action_name}[DEFAULT]", action
            else:
                yield f"{action_name}[switch:{get_switch(switch)}]", action
