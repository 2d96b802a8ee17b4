"""The service registry with real worker processes: join, refresh, leave, expiry, status, versions, gating."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from pysoa_like.fleet.errors import ServiceVersionError
from pysoa_like.registry.records import ServiceInfo
from pysoa_like.registry.store import RegistryStore
from pysoa_like.server.exit_codes import EXIT_GAVE_UP
from pysoa_like.version import __version__
from tests.functional.conftest import Runner, wait_for
from tests.functional.fleet.conftest import client_for


def _service(client: Client, name: str = "fleet") -> ServiceInfo:
    (service,) = client.list_services([name])
    return service


def test_every_worker_registers_with_what_it_serves(start_service: Callable[..., Runner], fleet_client: Client) -> None:
    """Two forked workers appear as two instances: version, host, pid, fork id, actions, deprecations, state."""
    runner = start_service(fork=2)
    service = wait_for(lambda: (lambda s: s if len(s.instances) == 2 else None)(_service(fleet_client)))
    assert [s.name for s in fleet_client.list_services()] == ["fleet"]
    assert service.versions == ("1.4.0",)
    assert sorted(i.fork_id for i in service.instances) == [1, 2]
    first = service.instances[0]
    assert first.instance_id.startswith(f"{first.host}:{first.pid}:")
    assert first.actions == ("introspect", "old", "sleep", "status", "who")
    assert first.deprecated_actions == {"old": "use who instead"}
    assert (first.state, first.concurrency, first.worker, first.library_version) == ("serving", 1, "sync", __version__)
    assert first.started_at <= time.time() and first.expires_at > time.time()
    assert runner.process.poll() is None


def test_in_flight_jobs_and_queue_depth_show_the_load(
    start_service: Callable[..., Runner], fleet_client: Client
) -> None:
    """While the only worker runs a slow job and more wait, the registry shows 1 in flight and the queue depth."""
    start_service(fork=1)
    futures = [fleet_client.call_action_future("fleet", "sleep", {"seconds": 1.5}, timeout=15) for _ in range(3)]
    loaded = wait_for(
        lambda: (lambda s: s if s.in_flight == 1 and s.queue_depth == 2 else None)(_service(fleet_client))
    )
    assert loaded.instances[0].jobs_handled >= 1
    for future in futures:
        future.result()
    idle = wait_for(lambda: (lambda s: s if s.in_flight == 0 and s.queue_depth == 0 else None)(_service(fleet_client)))
    assert idle.instances[0].jobs_handled >= 3


def test_a_killed_worker_drops_out_within_the_ttl(start_service: Callable[..., Runner], fleet_client: Client) -> None:
    """SIGKILL leaves the entry until its ttl (2 s here) runs out; the respawned worker registers anew."""
    start_service(fork=2)
    before = wait_for(lambda: (lambda s: s if len(s.instances) == 2 else None)(_service(fleet_client)))
    victim = before.instances[0]
    os.kill(victim.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(lambda: victim.instance_id not in {i.instance_id for i in _service(fleet_client).instances}, timeout=6)
    # The ttl is 2 s and entries are judged by the Redis clock: gone after about 2 s, never much later.
    assert time.monotonic() - killed_at < 2 + 2
    after = wait_for(lambda: (lambda s: s if len(s.instances) == 2 else None)(_service(fleet_client)), timeout=15)
    assert victim.pid not in {i.pid for i in after.instances}
    assert victim.fork_id in {i.fork_id for i in after.instances}


def test_a_clean_shutdown_leaves_the_registry_at_once(
    start_service: Callable[..., Runner], fleet_client: Client
) -> None:
    """After SIGTERM the entries are removed by the workers themselves, well before their ttl."""
    runner = start_service(fork=2, FLEET_TTL="60")
    wait_for(lambda: len(_service(fleet_client).instances) == 2)
    assert runner.terminate() == 0
    assert _service(fleet_client).instances == ()
    assert fleet_client.list_services() == []


def test_status_reports_the_registry_view_of_its_service(
    start_service: Callable[..., Runner], fleet_client: Client
) -> None:
    """status keeps PySOA's keys and puts the live instances, versions, queue and load in healthcheck diagnostics."""
    start_service(fork=2)
    wait_for(lambda: len(_service(fleet_client).instances) == 2)
    body = fleet_client.call_action("fleet", "status").body
    assert set(body) == {"conformity", "pysoa", "python", "version", "healthcheck"}
    registry = body["healthcheck"]["diagnostics"]["registry"]
    assert registry["name"] == "fleet" and registry["versions"] == ["1.4.0"] and registry["queue_depth"] == 0
    assert len(registry["instances"]) == 2
    answering = next(i for i in registry["instances"] if i["instance_id"] == registry["instance_id"])
    # The answering worker reports its own job as in flight, as of now.
    assert answering["in_flight"] == 1 and registry["in_flight"] >= 1
    assert body["healthcheck"]["warnings"] == [] and body["healthcheck"]["errors"] == []
    assert "healthcheck" not in fleet_client.call_action("fleet", "status", {"verbose": False}).body


def test_minimum_version_refuses_only_older_fleets(
    start_service: Callable[..., Runner], redis_url: str, fleet_client: Client
) -> None:
    """A client requiring a newer version than every live instance gets ServiceVersionError; an old enough one calls."""
    start_service(fork=1, FLEET_VERSION="1.4.0")
    wait_for(lambda: _service(fleet_client).instances)
    newer = client_for(redis_url, "fleet", minimum_version="1.5")
    older = client_for(redis_url, "fleet", minimum_version="1.3.9")
    with pytest.raises(ServiceVersionError) as caught:
        newer.call_action("fleet", "who")
    assert (
        str(caught.value) == "Service fleet must be at version 1.5 or later, but only older versions are alive (1.4.0)"
    )
    assert older.call_action("fleet", "who").body["pid"] > 0


def test_dependency_gating_waits_for_the_required_service(
    start_service: Callable[..., Runner], fleet_client: Client
) -> None:
    """A worker requiring `back` >= 1.0 registers as waiting and serves nothing until `back` is alive."""
    start_service("front", fork=1, wait_ready=False, FLEET_REQUIRES='{"back": "1.0"}')
    # It registers as "starting" first, then waits: poll for the state (seeing the first one is no failure).
    waiting = wait_for(lambda: _service(fleet_client, "front").instances, timeout=15)
    states = wait_for(lambda: {i.state for i in _service(fleet_client, "front").instances} - {"starting"}, timeout=15)
    assert (len(waiting), states) == (1, {"waiting for dependencies"})
    time.sleep(1)
    assert _service(fleet_client, "front").queue_depth == 0
    with pytest.raises(Exception):  # noqa: B017 - any failure to answer: it is not serving yet
        fleet_client.call_action("front", "who", timeout=1)
    start_service("back", fork=1)
    front = wait_for(
        lambda: (lambda s: s if s.instances[0].state == "serving" else None)(_service(fleet_client, "front"))
    )
    assert front.instances[0].dependencies["back"]["available"] is True
    status = fleet_client.call_action("front", "status", timeout=5).body["healthcheck"]
    assert status["warnings"] == []
    assert status["diagnostics"]["dependencies"] == {
        "back": {"minimum_version": "1.0", "versions": ["1.4.0"], "available": True}
    }


def test_gating_timeout_serves_and_reports_the_missing_service(
    start_service: Callable[..., Runner], fleet_client: Client
) -> None:
    """With on_timeout=start, a worker still missing a dependency serves, and status warns about it."""
    runner = start_service("front", fork=1, FLEET_REQUIRES='{"back": "2.0"}', FLEET_WAIT="0.5")
    warnings = fleet_client.call_action("front", "status").body["healthcheck"]["warnings"]
    assert warnings == [
        [
            "DEPENDENCY_UNAVAILABLE",
            "Required service back has no live instance of version 2.0 or later (live versions: none)",
        ]
    ]
    assert "Required services still unavailable after 0.5 seconds: back >= 2.0 (no live instance)" in runner.log()


@pytest.mark.parametrize("fork", [1, 2])
def test_gating_timeout_with_exit_stops_the_worker(start_service: Callable[..., Runner], fork: int) -> None:
    """With on_timeout=exit, the worker stops instead of serving without its dependency, and the process (the
    supervisor too, under --fork) exits with 4 so a supervisor sees it gave up; a give-up is not respawned."""
    runner = start_service(
        "front", fork=fork, wait_ready=False, FLEET_REQUIRES='{"back": null}', FLEET_WAIT="0.3", FLEET_ON_TIMEOUT="exit"
    )
    assert runner.process.wait(30) == EXIT_GAVE_UP
    assert "Stopping: the required services are unavailable (dependencies.on_timeout is exit)" in runner.log()
    assert "respawned as pid" not in runner.log()


def test_failed_jobs_are_counted_and_their_errors_kept_for_dashboards(
    start_service: Callable[..., Runner], fleet_client: Client
) -> None:
    """jobs_failed counts the jobs answered with errors; each error is stored with its action, code and ids."""
    start_service(fork=1)
    fleet_client.call_action("fleet", "who", {})
    with pytest.raises(CallActionError):
        fleet_client.call_action("fleet", "sleep", {}, correlation_id="dashboard-corr")
    store = RegistryStore(fleet_client.fleet_redis())
    (error,) = wait_for(lambda: store.recent_errors("fleet"))
    assert (error.service, error.action, error.code, error.is_caller_error) == ("fleet", "sleep", "SERVER_ERROR", False)
    assert error.correlation_id == "dashboard-corr" and error.request_id is not None
    (instance,) = _service(fleet_client).instances
    assert error.instance_id == instance.instance_id and error.time <= time.time()
    counted = wait_for(lambda: (lambda i: i if i.jobs_failed == 1 else None)(_service(fleet_client).instances[0]))
    assert counted.jobs_handled >= 2


def test_workers_publish_their_actions_for_dashboards(
    start_service: Callable[..., Runner], fleet_client: Client
) -> None:
    """A starting worker stores what introspect answers under its version, so no request is needed to read it."""
    start_service(fork=1)
    store = RegistryStore(fleet_client.fleet_redis())
    published = store.actions("fleet")
    assert list(published) == ["1.4.0"]
    assert published["1.4.0"] == fleet_client.call_action("fleet", "introspect", {}).body
    assert published["1.4.0"]["actions"]["who"]["documentation"] == "Returns the worker's pid."
