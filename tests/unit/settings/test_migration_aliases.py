"""PySOA-era plug-in paths keep working when PySOA and pymetrics are not installed."""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pysoa_like.common.fields.classconfig import resolve_python_path
from pysoa_like.common.metrics import NoOpMetricsRecorder
from pysoa_like.common.transport.local import LocalClientTransport
from pysoa_like.server._main import logging_to_configure
from pysoa_like.server.middleware import ServerMiddleware


@pytest.fixture(autouse=True)
def _require_absent() -> None:
    # The aliases only apply when the original packages are missing, as in this test environment.
    assert importlib.util.find_spec("pysoa") is None
    assert importlib.util.find_spec("pymetrics") is None


@pytest.fixture
def _root_logger_restored() -> Iterator[None]:
    # The validated logging setting holds the default root configuration (a stderr handler at INFO): restored so
    # that the tests after these ones log as before.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    for handler in [h for h in handlers if h not in root.handlers]:
        root.addHandler(handler)
    root.setLevel(level)


def test_pysoa_paths_resolve_to_pysoa_like() -> None:
    """A settings path naming a pysoa class resolves to the pysoa_like class of the same name."""
    assert resolve_python_path("pysoa.common.transport.local:LocalClientTransport") is LocalClientTransport
    assert resolve_python_path("pysoa.server.middleware.ServerMiddleware") is ServerMiddleware


def test_pymetrics_noop_recorder_resolves_to_ours() -> None:
    """PySOA's default metrics recorder path resolves to the no-op recorder."""
    assert resolve_python_path("pymetrics.recorders.noop:NonOperationalMetricsRecorder") is NoOpMetricsRecorder


def test_other_missing_modules_still_fail() -> None:
    """Paths in other missing packages still raise ImportError."""
    with pytest.raises(ImportError):
        resolve_python_path("not_a_real_package.mod:Thing")
    with pytest.raises(ImportError):
        resolve_python_path("pymetrics.recorders.default:DefaultMetricsRecorder")


@pytest.mark.usefixtures("_root_logger_restored")
def test_pysoa_paths_in_the_logging_setting_configure_pysoa_like_classes() -> None:
    """A PySOA settings file's logging dict names ``pysoa.common.logging`` classes: dictConfig gets ours."""
    import logging
    import logging.config

    from pysoa_like.common.logging import PySOALogContextFilter
    from pysoa_like.server.settings import ServerSettings

    settings = ServerSettings(
        {
            "transport": {"path": "pysoa_like.common.transport.local:LocalServerTransport"},
            "logging": {
                "version": 1,
                "filters": {"context": {"()": "pysoa.common.logging.PySOALogContextFilter"}},
                "handlers": {"quiet": {"class": "logging.NullHandler", "filters": ["context"]}},
                "loggers": {"tests.migrated_logging": {"handlers": ["quiet"], "propagate": False}},
                "disable_existing_loggers": False,
            },
        }
    )
    logger = logging.getLogger("tests.migrated_logging")
    try:
        logging.config.dictConfig(logging_to_configure(settings["logging"]))
        (handler,) = [h for h in logger.handlers if isinstance(h, logging.NullHandler)]
        assert [type(f) for f in handler.filters] == [PySOALogContextFilter]
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)


@pytest.mark.usefixtures("_root_logger_restored")
def test_pysoa_logger_names_in_the_logging_setting_configure_the_pysoa_like_loggers() -> None:
    """PySOA logged on ``pysoa.*`` loggers; a PySOA settings file's levels for them apply to ``pysoa_like.*``
    (the same loggers under the new name), where they configured loggers nothing logs on."""
    import logging
    import logging.config

    from pysoa_like.server.settings import ServerSettings

    settings = ServerSettings(
        {
            "transport": {"path": "pysoa_like.common.transport.local:LocalServerTransport"},
            "logging": {
                "version": 1,
                "loggers": {"pysoa.server.job": {"level": "WARNING"}},
                "disable_existing_loggers": False,
            },
        }
    )
    logger = logging.getLogger("pysoa_like.server.job")
    level = logger.level
    try:
        logging.config.dictConfig(logging_to_configure(settings["logging"]))
        assert logger.level == logging.WARNING
    finally:
        logger.setLevel(level)


def test_with_pysoa_installed_its_logging_names_are_left_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PySOA and pysoa_like side by side: a ``pysoa.*`` logger or class in the logging setting is PySOA's, kept."""
    from pysoa_like.server.settings import ServerSettings

    # (a stand-in for PySOA with the filter class the setting names: the settings import it to check the name)
    (tmp_path / "pysoa" / "common").mkdir(parents=True)
    (tmp_path / "pysoa" / "__init__.py").write_text("")
    (tmp_path / "pysoa" / "common" / "__init__.py").write_text("")
    (tmp_path / "pysoa" / "common" / "logging.py").write_text("class PySOALogContextFilter:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    stand_in = ("pysoa", "pysoa.common", "pysoa.common.logging")
    for module in stand_in:
        monkeypatch.delitem(sys.modules, module, raising=False)
    try:
        logging_setting = ServerSettings(
            {
                "transport": {"path": "pysoa_like.common.transport.local:LocalServerTransport"},
                "logging": {
                    "version": 1,
                    "filters": {"context": {"()": "pysoa.common.logging.PySOALogContextFilter"}},
                    "loggers": {"pysoa.server.job": {"level": "WARNING"}},
                },
            }
        )["logging"]
    finally:
        for module in stand_in:  # imported by the check: later tests must not find PySOA installed
            sys.modules.pop(module, None)
    assert logging_setting["filters"]["context"] == {"()": "pysoa.common.logging.PySOALogContextFilter"}
    assert logging_setting["loggers"] == {"pysoa.server.job": {"level": "WARNING"}}
