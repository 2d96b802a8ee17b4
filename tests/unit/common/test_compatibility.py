"""Tests for pysoa_like.common.compatibility: PySOA's ContextVar shim, importable where PySOA had it."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from pysoa_like.common.compatibility import ContextVar, Token, set_running_loop

# How long a test waits for another thread or loop before failing.
WAIT_SECONDS = 10


def test_get_without_a_value_raises_lookup_error_or_gives_a_default() -> None:
    """An unset variable without a default raises LookupError; a default given to get() or to the variable answers
    instead, by position or by keyword as PySOA accepted (the standard ContextVar refuses both spellings)."""
    bare: ContextVar[str] = ContextVar("test_compat_bare")
    with pytest.raises(LookupError):
        bare.get()
    assert bare.get("fallback") == "fallback"
    assert bare.get(default="keyword") == "keyword"
    assert repr(bare).startswith("<ContextVar name='test_compat_bare' at 0x")

    by_position: ContextVar[str] = ContextVar("test_compat_position", "declared")
    assert by_position.get() == "declared"
    assert by_position.get("given") == "given"
    assert repr(by_position).startswith("<ContextVar name='test_compat_position' default='declared' at 0x")

    by_keyword: ContextVar[str | None] = ContextVar("test_compat_keyword", default=None)
    assert by_keyword.get() is None
    assert by_keyword.name == "test_compat_keyword"


def test_tokens_name_their_variable_and_the_value_they_replace() -> None:
    """A token names its variable as PySOA did (context_var) and as the standard library does (var, old_value)."""
    variable: ContextVar[int] = ContextVar("test_compat_token")

    def scenario() -> None:
        first = variable.set(1)
        second = variable.set(2)
        assert isinstance(first, Token)
        assert first.context_var is variable and first.var is variable
        assert first.old_value is Token.MISSING
        assert second.old_value == 1

    contextvars.copy_context().run(scenario)


def test_a_subclass_works_as_the_variable() -> None:
    """ContextVar can be subclassed, as PySOA's could (the standard library's cannot)."""

    class CountingVar(ContextVar[int]):
        def increment(self) -> Token[int]:
            return self.set(self.get() + 1)

    counter = CountingVar("test_compat_subclass", 0)
    token = counter.increment()
    assert counter.get() == 1
    counter.reset(token)
    assert counter.get() == 0


def test_tokens_reset_to_the_previous_value_in_any_order_per_variable() -> None:
    """Each token restores what its set() replaced, down to unset; variables do not share tokens."""
    first: ContextVar[str] = ContextVar("test_compat_first", default="foo")
    second: ContextVar[str] = ContextVar("test_compat_second")

    def scenario() -> None:
        outer_first = first.set("hello")
        outer_second = second.set("goodbye")
        inner_first = first.set("world")
        assert (first.get(), second.get()) == ("world", "goodbye")

        with pytest.raises(ValueError):
            first.reset(outer_second)  # another variable's token
        with pytest.raises(TypeError):
            first.reset("not a token")  # type: ignore[arg-type]
        assert (first.get(), second.get()) == ("world", "goodbye")

        first.reset(inner_first)
        assert first.get() == "hello"
        with pytest.raises(RuntimeError):
            first.reset(inner_first)  # a token resets once
        first.reset(outer_first)
        assert first.get() == "foo"

        made_elsewhere = contextvars.copy_context().run(first.set, "elsewhere")
        with pytest.raises(ValueError):
            first.reset(made_elsewhere)  # a token of another context

        second.reset(outer_second)
        with pytest.raises(LookupError):
            second.get()

    contextvars.copy_context().run(scenario)


def test_each_thread_has_its_own_value() -> None:
    """A value set in one thread is not seen by another, and the main thread keeps its own."""
    variable: ContextVar[str] = ContextVar("test_compat_threads", default="unset")
    token = variable.set("main")
    seen: dict[str, str] = {}
    worker_has_set = threading.Event()
    main_has_changed = threading.Event()

    def worker() -> None:
        variable.set("worker")
        worker_has_set.set()
        main_has_changed.wait(WAIT_SECONDS)
        seen["worker"] = variable.get()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert worker_has_set.wait(WAIT_SECONDS)
        assert variable.get() == "main"
        variable.set("main again")
        main_has_changed.set()
    finally:
        thread.join(WAIT_SECONDS)
    assert not thread.is_alive()
    assert seen == {"worker": "worker"}
    assert variable.get() == "main again"
    variable.reset(token)
    assert variable.get() == "unset"


def test_asyncio_tasks_start_with_a_copy_of_their_creators_values() -> None:
    """A task sees the value set before it was created, and what it sets stays in the task."""
    variable: ContextVar[int] = ContextVar("test_compat_tasks")

    async def child(value: int) -> int:
        seen = variable.get()
        token = variable.set(value)
        await asyncio.sleep(0.01)
        assert variable.get() == value  # not overwritten by the sibling task meanwhile
        variable.reset(token)
        return seen

    async def main() -> tuple[list[int], int]:
        variable.set(12)
        seen = list(await asyncio.wait_for(asyncio.gather(child(15), child(16)), WAIT_SECONDS))
        return seen, variable.get()

    assert asyncio.run(main()) == ([12, 12], 12)


def test_a_coroutine_sent_to_another_threads_loop_sees_the_senders_values() -> None:
    """run_coroutine_threadsafe copies the calling thread's context into the task it starts on the other loop."""
    variable: ContextVar[str] = ContextVar("test_compat_threadsafe", default="unset")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()

    async def read_then_set() -> str:
        seen = variable.get()
        variable.set("in the loop")
        return seen

    def send() -> tuple[str, str]:
        variable.set("sender")
        seen = asyncio.run_coroutine_threadsafe(read_then_set(), loop).result(WAIT_SECONDS)
        return seen, variable.get()

    try:
        assert contextvars.copy_context().run(send) == ("sender", "sender")
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT_SECONDS)
        loop.close()


def test_set_running_loop_changes_nothing() -> None:
    """set_running_loop is a no-op kept for PySOA code: asyncio's running loop stays as it was."""
    loop = asyncio.new_event_loop()
    try:
        set_running_loop(loop)
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()
        set_running_loop(None)

        async def inside() -> asyncio.AbstractEventLoop:
            set_running_loop(None)
            return asyncio.get_running_loop()

        assert loop.run_until_complete(inside()) is loop
    finally:
        loop.close()
