"""Runs one worker of :mod:`tests.functional.concurrent_service` with no supervisor, so its exit status is the
worker's own (``python -m tests.functional.concurrent_service_main``)."""

from __future__ import annotations

import sys

from tests.functional.concurrent_service import ConcurrentServer

if __name__ == "__main__":
    sys.argv[1:] = ["--settings", "tests.functional.concurrent_service"]
    ConcurrentServer.main()
