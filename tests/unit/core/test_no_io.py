"""The sans-I/O core imports nothing that does I/O, keeps time or runs threads, directly or through its imports."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap

import pysoa_like.core

# What no module of the core may import, even indirectly: a driver's business, or the caller's.
FORBIDDEN = ("redis", "socket", "select", "ssl", "asyncio", "threading", "time")
# Third-party core dependencies the core may use; they are imported first (attrs imports threading itself).
DEPENDENCIES = ("attr", "msgpack")


def _core_modules() -> list[str]:
    return [info.name for info in pkgutil.walk_packages(pysoa_like.core.__path__, "pysoa_like.core.")]


def test_the_core_has_modules() -> None:
    """The check below looks at real modules (it would pass vacuously on an empty package)."""
    assert "pysoa_like.core.message" in _core_modules()


def test_no_core_module_imports_io_time_or_threads() -> None:
    """Importing every core module in a fresh interpreter where those modules cannot be imported succeeds.

    Only the core's third-party dependencies (attrs, msgpack) are imported before the modules are blocked.
    """
    script = textwrap.dedent(
        f"""
        import importlib, sys
        for name in {DEPENDENCIES!r}:
            importlib.import_module(name)
        saved = {{name: sys.modules.get(name) for name in {FORBIDDEN!r}}}
        for name in saved:
            sys.modules[name] = None  # any import of it now raises ImportError
        try:
            for module in {_core_modules()!r}:
                importlib.import_module(module)
        finally:
            for name, module in saved.items():
                if module is None:
                    del sys.modules[name]
                else:
                    sys.modules[name] = module
        """
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
