"""``pysoa-like shell``: an interactive Python with a configured client (IPython when it is installed)."""

from __future__ import annotations

import argparse
import code
import importlib.util
import pprint
import traceback
from typing import Any

from pysoa_like._cli._client import AnyServiceClient
from pysoa_like._cli._common import EXIT_FAILED, EXIT_OK, Output
from pysoa_like._cli._target import Target, add_target_arguments

__all__ = ["add_shell_command", "shell_namespace"]

_BANNER = """pysoa_like shell ({where})
  call(service, action, body=None, **kwargs)   call an action, return its response body
  status(service)                              the service's status response body
  introspect(service, action=None)             the service's actions and schemas
  client                                       the Client (call_action, call_actions_parallel, ...)
"""

_EXAMPLES = """\
examples:
  pysoa-like shell --redis-url redis://127.0.0.1:6379/0
  >>> call("calculator", "square", {"number": 7})
  {'square': 49}
  pysoa-like shell --settings my_app.settings -c 'print(status("calculator"))'
"""


def shell_namespace(target: Target) -> dict[str, Any]:
    """The names the shell starts with: ``client``, ``call``, ``status``, ``introspect`` and ``pprint``."""
    client = AnyServiceClient(target)

    def call(service: str, action: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Call ``action`` on ``service`` and return the response body (errors raise as in ``Client``)."""
        return client.call_action(service, action, body, **kwargs).body

    def status(service: str) -> Any:
        """The status response body of ``service``."""
        return call(service, "status", {"verbose": True})

    def introspect(service: str, action: str | None = None) -> Any:
        """The introspect response body of ``service`` (only ``action`` if given)."""
        return call(service, "introspect", {"action_name": action} if action else {})

    return {
        "client": client,
        "call": call,
        "status": status,
        "introspect": introspect,
        "pprint": pprint.pprint,
        "target": target,
    }


def add_shell_command(commands: Any) -> None:
    """Add ``shell`` to the ``pysoa-like`` subcommands."""
    parser = commands.add_parser(
        "shell",
        help="Start an interactive Python with a configured client",
        description="Start an interactive Python (IPython if installed) with a client for the services.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(parser)
    parser.add_argument("-c", "--command", metavar="CODE", help="Run this code in the shell's namespace and exit")
    parser.add_argument("--plain", action="store_true", help="Use the standard Python console even if IPython exists")
    parser.set_defaults(run=run_shell)


def run_shell(args: argparse.Namespace, output: Output) -> int:
    """``pysoa-like shell``."""
    target = Target.from_args(args)
    namespace = shell_namespace(target)
    if args.command is not None:
        try:
            exec(compile(args.command, "<pysoa-like shell -c>", "exec"), namespace)
        except Exception as exc:
            output.problem("".join(traceback.format_exception_only(type(exc), exc)).rstrip())
            return EXIT_FAILED
        return EXIT_OK
    banner = _BANNER.format(where=target.describe())
    if not args.plain and importlib.util.find_spec("IPython") is not None:
        import IPython  # type: ignore[import-not-found,unused-ignore]

        output.line(banner)
        IPython.start_ipython(argv=[], user_ns=namespace)
        return EXIT_OK
    code.interact(banner=banner, local=namespace, exitmsg="")
    return EXIT_OK
