"""Fixtures for the interop suite: the PySOA 1.4.9 venv, throwaway Redis topologies, both servers.

The venv is built once and cached (``tests/interop/_pysoa_venv.py``); if it cannot be built every
interop test FAILS with pip's output, in CI and locally alike (never a skip). While the cache is
missing, the interop tests get a longer per-test timeout, because the first one pays for the build.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from pysoa_like.test.redis import RedisRing, RedisServerProcess
from tests import run_summary
from tests.interop._harness import JSON_SERVICES, MSGPACK_SERVICES, Deployment, PySOAScripts
from tests.interop._matrix import RING_SCENARIOS, BatchRunner, Combo, run_batch
from tests.interop._matrix import Path as CallPath
from tests.interop._pysoa_venv import PySOAVenv, PySOAVenvError, ensure_pysoa_venv, venv_is_complete

_INTEROP_DIR = Path(__file__).resolve().parent
_BUILD_TIMEOUT_SECONDS = 900
_venv_result: dict[str, Any] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give interop tests room for the one-off venv build when the cache is not there yet."""
    if venv_is_complete():
        return
    for item in items:
        if _INTEROP_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.timeout(_BUILD_TIMEOUT_SECONDS))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Say in the run's summary whether the PySOA venv was built in this run and how long that took."""
    venv = _venv_result.get("venv")
    if isinstance(venv, PySOAVenv):
        how = "built in this run" if venv.built_now else "reused from cache"
        run_summary.note(
            f"PySOA interop venv: {how} ({venv.directory}; build took {venv.build_seconds:.1f} s; {venv.versions})"
        )


@pytest.fixture(scope="session")
def pysoa_venv() -> PySOAVenv:
    """The PySOA 1.4.9 venv; a failed build fails every test that needs it (with the pip output)."""
    if "error" not in _venv_result and "venv" not in _venv_result:
        try:
            _venv_result["venv"] = ensure_pysoa_venv()
        except PySOAVenvError as exc:
            _venv_result["error"] = str(exc)
    if "error" in _venv_result:
        pytest.fail(f"Could not build the PySOA 1.4.9 interop venv:\n{_venv_result['error']}", pytrace=False)
    venv: PySOAVenv = _venv_result["venv"]
    return venv


@pytest.fixture(scope="session")
def pysoa_scripts(pysoa_venv: PySOAVenv) -> PySOAScripts:
    """Runs the ``pysoa_side`` scripts with the PySOA venv's interpreter."""
    return PySOAScripts(pysoa_venv.python)


@pytest.fixture(scope="session")
def deployment_factory(pysoa_scripts: PySOAScripts) -> Iterator[Callable[[str, str], Deployment]]:
    """``get(server_implementation, topology)``: the servers of one implementation on their own Redis.

    ``server_implementation`` is ``"pysoa"``, ``"like"`` or ``"like-alo"`` (pysoa_like delivering at least once).

    ``topology`` is ``"single"`` (one Redis; msgpack- and JSON-default services) or ``"ring"`` (two
    masters; msgpack-default services only). Each combination is started on first use and kept for
    the session; everything is stopped (servers first, then Redis, by PID) at the end.
    """
    started: dict[tuple[str, str], Deployment] = {}
    with ExitStack() as stack:

        def get(server_implementation: str, topology: str) -> Deployment:
            key = (server_implementation, topology)
            if key not in started:
                services = dict.fromkeys(MSGPACK_SERVICES, "msgpack")
                if topology == "ring":
                    hosts = stack.enter_context(RedisRing(2)).hosts
                else:
                    hosts = [stack.enter_context(RedisServerProcess()).address]
                    services.update(dict.fromkeys(JSON_SERVICES, "json"))
                deployment = Deployment(server_implementation, hosts, pysoa_scripts, services).start()
                stack.callback(deployment.stop)
                started[key] = deployment
            return started[key]

        yield get


@pytest.fixture(scope="session")
def matrix_batches(deployment_factory: Callable[[str, str], Deployment]) -> BatchRunner:
    """``get(path, combo, topology)``: runs a combination's whole batch once, then serves it from cache.

    A batch that failed (a server died, a script crashed) fails every test that asks for it again,
    with the same message, without re-running it.
    """
    cache: dict[tuple[CallPath, Combo, str], Any] = {}

    def get(path: CallPath, combo: Combo, topology: str = "single") -> dict[str, list[dict[str, Any]]]:
        key = (path, combo, topology)
        if key not in cache:
            try:
                only = RING_SCENARIOS if topology == "ring" else None
                cache[key] = run_batch(deployment_factory(path.server, topology), path, combo, only)
            except (Exception, pytest.fail.Exception) as exc:
                cache[key] = exc
        outcome = cache[key]
        if isinstance(outcome, BaseException):
            raise outcome
        batch: dict[str, list[dict[str, Any]]] = outcome
        return batch

    return get
