"""The commands of ``pysoa-like`` besides ``serve`` (see :mod:`pysoa_like.cli`), one module each.

Each module adds its subparsers and sets ``run(args, output) -> exit code`` on them; a
:class:`~pysoa_like._cli._common.CommandError` raised anywhere becomes one ``error:`` line on stderr
and its exit code.
"""

from __future__ import annotations

from typing import Any

from pysoa_like._cli._calls import add_call_commands
from pysoa_like._cli._config import add_config_command
from pysoa_like._cli._dashboard import add_dashboard_command
from pysoa_like._cli._gateway import add_gateway_command
from pysoa_like._cli._services import add_services_command
from pysoa_like._cli._shell import add_shell_command

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    """Add ``call``, ``shell``, ``services``, ``status``, ``health``, ``introspect``, ``show-config``, ``dashboard``
    and ``gateway``."""
    add_call_commands(commands)
    add_shell_command(commands)
    add_services_command(commands)
    add_config_command(commands)
    add_dashboard_command(commands)
    add_gateway_command(commands)
