"""Memory returns to its level after one big message, on the client and in a worker."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from pysoa_like.client.client import Client
from tests.functional.conftest import REPO_ROOT, SERVICE, Runner, who

# Generous against allocator noise, far below the 200 and 50 MiB messages of these tests.
_SLACK_MIB = 30

_CLIENT_SCRIPT = """
import sys
from pysoa_like.client.client import Client
from pysoa_like.common.transport.errors import MessageTooLarge

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024

transport = {
    "path": "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport",
    "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [sys.argv[1]]}},
}
client = Client({"functional": {"transport": transport}})
client.call_action("functional", "who", {}, timeout=5, suppress_response=True)
before = rss_mib()
try:
    client.call_action("functional", "who", {"data": "x" * (200 * 1024 * 1024)}, timeout=5)
except MessageTooLarge:
    pass
print(before, rss_mib())
"""


def _rss_mib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no VmRSS")


def test_a_client_that_refused_a_200_mib_body_gives_the_memory_back(redis_url: str) -> None:
    """MessageTooLarge for a 200 MiB body leaves the process about as big as before (the packer kept 200 MiB)."""
    result = subprocess.run(
        [sys.executable, "-c", _CLIENT_SCRIPT, redis_url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=True,
    )
    before, after = map(int, result.stdout.split())
    assert after - before < _SLACK_MIB, result.stdout


def test_a_worker_that_built_a_50_mib_reply_gives_the_memory_back(
    start_runner: Callable[..., Runner], client: Client
) -> None:
    """A reply too large to send (RESPONSE_TOO_LARGE) leaves the worker about as big as before."""
    runner = start_runner(fork=0)
    who(client)
    before = _rss_mib(runner.pid)
    response = client.call_action(SERVICE, "big", {"megabytes": 50}, timeout=30, raise_job_errors=False)
    assert [error.code for error in response] == ["RESPONSE_TOO_LARGE"]  # type: ignore[attr-defined]
    who(client)
    assert _rss_mib(runner.pid) - before < _SLACK_MIB
