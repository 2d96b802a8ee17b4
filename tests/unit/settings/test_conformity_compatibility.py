"""Settings errors and settings objects work where PySOA code expects Conformity's, with or without Conformity."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pysoa_like.client.settings import ClientSettings
from pysoa_like.common.errors import PySOAError
from pysoa_like.common.settings import SettingsError
from pysoa_like.server.settings import ServerSettings

_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"
_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"


def test_code_catching_conformitys_error_catches_ours() -> None:
    """Code catching conformity's Settings.ImproperlyConfigured (when it is installed) catches a bad ServerSettings."""
    try:
        from conformity.settings import Settings as ConformitySettings
    except ImportError:  # this environment has no Conformity: the error is ours alone (see the stub test below)
        catching: type[Exception] = SettingsError
        assert SettingsError.__mro__[1:3] == (PySOAError, ValueError)
    else:
        catching = ConformitySettings.ImproperlyConfigured
    with pytest.raises(catching) as info:
        ServerSettings({"transport": {"path": _CLIENT_TRANSPORT, "kwargs": {"backend_type": "redis.standard"}}})
    assert 'transport.path: expected a "module:Class" path to a subclass of ServerTransport' in info.value.args[0]
    assert isinstance(info.value, SettingsError) and isinstance(info.value, ValueError)
    assert ServerSettings.ImproperlyConfigured is SettingsError


_WITH_A_CONFORMITY = textwrap.dedent(
    """
    import sys
    from conformity.settings import Settings as ConformitySettings  # the stub below, first on sys.path
    from pysoa_like.server.settings import ServerSettings

    try:
        ServerSettings({"no_such_setting": 1})
    except ConformitySettings.ImproperlyConfigured as exc:
        assert isinstance(exc, ServerSettings.ImproperlyConfigured)
        print("ok")
    """
)


def test_settings_errors_subclass_an_installed_conformity(tmp_path: Path) -> None:
    """Whichever Conformity is installed, SettingsError subclasses its Settings.ImproperlyConfigured."""
    package = tmp_path / "conformity"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text("class Settings:\n    class ImproperlyConfigured(Exception):\n        pass\n")
    result = subprocess.run(
        [sys.executable, "-c", _WITH_A_CONFORMITY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


_WITHOUT_CONFORMITY = textwrap.dedent(
    """
    import sys

    class RefuseConformity:
        def find_spec(self, name, path=None, target=None):
            if name == "conformity" or name.startswith("conformity."):
                raise ImportError("conformity is hidden for this test")
            return None

    sys.meta_path.insert(0, RefuseConformity())
    from pysoa_like.common.errors import PySOAError
    from pysoa_like.common.settings import SettingsError
    from pysoa_like.client.settings import ClientSettings

    assert SettingsError.__mro__[1:3] == (PySOAError, ValueError), SettingsError.__mro__
    try:
        ClientSettings({"transport": {"path": "no.such.module:Transport"}})
    except ClientSettings.ImproperlyConfigured as exc:
        assert isinstance(exc, SettingsError) and "transport.path" in str(exc)
    else:
        raise AssertionError("no error raised")
    assert "conformity" not in sys.modules
    print("ok")
    """
)


def test_settings_errors_work_without_conformity() -> None:
    """Without Conformity, settings errors are still SettingsError (a PySOAError and ValueError)."""
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_CONFORMITY], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_set_replaces_the_contents_after_validating() -> None:
    """set(data), Conformity's method, validates new data and replaces the contents; bad data changes nothing."""
    settings = ClientSettings({"transport": {"path": _CLIENT_TRANSPORT, "kwargs": {"backend_type": "redis.standard"}}})
    settings.set({"transport": {"path": _CLIENT_TRANSPORT, "kwargs": {"backend_type": "redis.sentinel"}}})
    assert settings["transport"]["kwargs"]["backend_type"] == "redis.sentinel"
    with pytest.raises(SettingsError):
        settings.set({"transport": {"path": _SERVER_TRANSPORT}})
    assert settings["transport"]["kwargs"]["backend_type"] == "redis.sentinel"
