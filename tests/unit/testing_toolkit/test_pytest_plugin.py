"""The pytest plugin, run in a separate pytest process as a service author's test suite would be."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pysoa_like

_CONFTEST = """
import pytest
from tests.unit.testing_toolkit._services import EchoServer

@pytest.fixture(scope="module")
def server_class():
    return EchoServer
"""

_TESTS = """
from pysoa_like.test.stub_service import stub_action
from pysoa_like.client.client import ServiceHandler

ORIGINAL = ServiceHandler.__dict__["send_request"]

def test_client(service_client, service_client_class, service_client_settings):
    assert isinstance(service_client, service_client_class)
    assert list(service_client_settings) == ["echo"]
    assert service_client.call_action("echo", {"a": 1}).body == {"a": 1}
    assert service_client.call_action("echo", {"b": 2}, service_name="echo").body == {"b": 2}

def test_stubber(service_client, action_stubber):
    stub = action_stubber("echo", "echo", body={"stubbed": True})
    assert service_client.call_action("echo").body == {"stubbed": True}
    assert stub.call_count == 1

def test_stubber_cleaned_up(service_client):
    assert ServiceHandler.__dict__["send_request"] is ORIGINAL
    assert service_client.call_action("echo", {"real": 1}).body == {"real": 1}

def test_settings_from_env(server_settings):
    assert server_settings == {}
"""

_NO_SERVER_CLASS = """
def test_needs_server_class(service_client):
    pass
"""


def _run(tmp_path: Path, files: dict[str, str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    root = str(Path(pysoa_like.__file__).parent.parent)
    full_env = {**os.environ, "PYTHONPATH": root, **env}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(60)
def test_fixtures_work_in_a_service_test_suite(tmp_path: Path) -> None:
    """service_client, its class and settings, action_stubber and server_settings work as documented."""
    result = _run(
        tmp_path,
        {"conftest.py": _CONFTEST, "test_service.py": _TESTS},
        {"PYSOA_SETTINGS_MODULE": "tests.unit.testing_toolkit._services"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


@pytest.mark.timeout(60)
def test_missing_server_class_fixture_is_explained(tmp_path: Path) -> None:
    """Without a server_class fixture the error tells the author what to define."""
    result = _run(tmp_path, {"test_service.py": _NO_SERVER_CLASS}, {})
    assert result.returncode != 0
    assert "Define a 'server_class' fixture (scope='module' or wider)" in result.stdout


_BAD_SCHEMA_CONFTEST = """
import pytest
from tests.functional.mistaken_servers import FieldClassSchemaServer

@pytest.fixture(scope="module")
def server_class():
    return FieldClassSchemaServer
"""

_CALLS_ADD = """
def test_add(service_client):
    assert service_client.call_action("add", {"number": 1}).body == {"number": 2}
"""


@pytest.mark.timeout(60)
def test_an_action_schema_that_cannot_check_a_body_fails_the_fixture_as_the_server_refuses_to_start(
    tmp_path: Path,
) -> None:
    """The service_client fixture fails with the message a server refusing to start gives, without a traceback
    (the test failed on its call, a SERVER_ERROR about Integer.errors() missing an argument)."""
    result = _run(
        tmp_path,
        {"conftest.py": _BAD_SCHEMA_CONFTEST, "test_service.py": _CALLS_ADD},
        {"PYSOA_SETTINGS_MODULE": "tests.unit.testing_toolkit._services"},
    )
    assert result.returncode != 0
    assert (
        "FieldClassSchemaServer (service 'field_class_schema'), action 'add': request_schema['number'] is the class "
        "Integer, not a field: write Integer() (an instance of it)"
    ) in result.stdout
    assert "SERVER_ERROR" not in result.stdout


_ASYNC_TESTS = """
import asyncio

from pysoa_like.client.async_client import AsyncClient

def test_async_client(async_service_client, async_service_client_class):
    assert isinstance(async_service_client, async_service_client_class)
    assert issubclass(async_service_client_class, AsyncClient)
    response = asyncio.run(async_service_client.call_action("echo", {"a": 1}))
    assert response.body == {"a": 1}

def test_async_client_again_from_a_new_loop(async_service_client, action_stubber):
    action_stubber("echo", "echo", body={"stubbed": True})

    async def calls():
        return await asyncio.gather(*(async_service_client.call_action("echo") for _ in range(3)))

    assert [r.body for r in asyncio.run(calls())] == [{"stubbed": True}] * 3

def test_async_client_over_redis(pysoa_redis_async_service_client):
    async def calls():
        return await asyncio.gather(*(pysoa_redis_async_service_client.call_action("echo", {"n": i}) for i in range(5)))

    assert [r.body for r in asyncio.run(calls())] == [{"n": i} for i in range(5)]
"""


@pytest.mark.timeout(60)
def test_async_fixtures_work_in_a_service_test_suite(tmp_path: Path) -> None:
    """async_service_client, its class, and the Redis one call the service from any event loop; stubs apply."""
    result = _run(
        tmp_path,
        {"conftest.py": _CONFTEST, "test_service.py": _ASYNC_TESTS},
        {"PYSOA_SETTINGS_MODULE": "tests.unit.testing_toolkit._services"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
