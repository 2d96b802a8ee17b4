"""``call``, ``status``, ``health`` and ``introspect``: one action on one service."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Mapping
from typing import Any

from pysoa_like._cli._client import (
    AnyServiceClient,
    body_of,
    errors_as_dicts,
    failed_exit,
    guarded,
    parse_pairs,
)
from pysoa_like._cli._common import EXIT_FAILED, EXIT_OK, EXIT_TRANSPORT, CommandError, Output, positive_seconds
from pysoa_like._cli._schema_text import schema_lines
from pysoa_like._cli._target import Target, add_target_arguments
from pysoa_like.client.errors import CallActionError, CallJobError
from pysoa_like.common.types import ActionResponse

__all__ = ["add_call_commands"]

_CALL_EXAMPLES = """\
examples:
  pysoa-like call calculator square number=7 --redis-url redis://127.0.0.1:6379/0
  pysoa-like call calculator add '{"numbers": [1, 2, 3]}' --settings my_app.settings
  pysoa-like call report sum_of_squares numbers=[1,2] --switch 5 --context user_id=12 --json
  echo '{"number": 3}' | pysoa-like call calculator square - --timeout 2

exit status: 0 success, 1 action or job errors, 2 usage error, 3 transport error or timeout
"""

_HEALTH_EXAMPLES = """\
examples:
  pysoa-like status calculator --redis-url redis://127.0.0.1:6379/0     # versions and health check results
  pysoa-like health calculator --redis-url redis://127.0.0.1:6379/0     # prints SERVING or NOT_SERVING
  HEALTHCHECK CMD pysoa-like health calculator --timeout 3                # in a Dockerfile

exit status: 0 SERVING, 1 NOT_SERVING (health check errors or a failing status action),
2 usage error, 3 no answer (transport error or timeout)
"""


def _common(parser: argparse.ArgumentParser, timeout: float) -> None:
    add_target_arguments(parser)
    parser.add_argument(
        "-t",
        "--timeout",
        type=positive_seconds,
        default=timeout,
        help=f"Seconds to wait for the reply, more than 0 (default {timeout:g})",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="Show server tracebacks of errors")


def add_call_commands(commands: Any) -> None:
    """Add ``call``, ``status``, ``health`` and ``introspect`` to the ``pysoa-like`` subcommands."""
    formatter = argparse.RawDescriptionHelpFormatter
    call = commands.add_parser(
        "call",
        help="Call one action and print its response",
        description="Call ACTION on SERVICE and print the response body.",
        epilog=_CALL_EXAMPLES,
        formatter_class=formatter,
    )
    call.add_argument("service", metavar="SERVICE")
    call.add_argument("action", metavar="ACTION")
    call.add_argument(
        "body",
        nargs="*",
        # The default makes BODY optional for argparse too: without one, older versions count a "*" positional as
        # required, and a command missing SERVICE said BODY was missing as well.
        default=[],
        metavar="BODY",
        help="The request body: a JSON object, key=value pairs (values typed as JSON: n=7, ok=true, "
        "ids=[1,2], name=Ann), or - to read a JSON object from stdin",
    )
    _common(call, 10.0)
    call.add_argument(
        "-c", "--context", action="append", default=[], metavar="KEY=VALUE", help="Add to the request context"
    )
    call.add_argument("--switch", action="append", type=int, default=[], metavar="N", help="Turn on a switch")
    call.add_argument("--correlation-id", metavar="ID", help="The correlation id (default: a new one)")
    call.add_argument(
        "--json", action="store_true", help="Print the whole action response (body and errors) as one JSON line"
    )
    call.set_defaults(run=run_call)

    for name, help_text in (
        ("status", "Show a service's status action: versions and health checks"),
        ("health", "Print SERVING or NOT_SERVING (for container health checks)"),
    ):
        parser = commands.add_parser(
            name, help=help_text, description=help_text + ".", epilog=_HEALTH_EXAMPLES, formatter_class=formatter
        )
        parser.add_argument("service", metavar="SERVICE")
        _common(parser, 5.0)
        parser.add_argument("--json", action="store_true", help="Print the status response as JSON")
        parser.set_defaults(run=run_status if name == "status" else run_health)

    introspect = commands.add_parser(
        "introspect",
        help="Show a service's actions and their request and response schemas",
        description="Show the documentation and the request and response schemas of a service's actions.",
        epilog="example:\n  pysoa-like introspect calculator square --redis-url redis://127.0.0.1:6379/0",
        formatter_class=formatter,
    )
    introspect.add_argument("service", metavar="SERVICE")
    introspect.add_argument("action", metavar="ACTION", nargs="?", help="Only this action")
    _common(introspect, 10.0)
    introspect.add_argument("--json", action="store_true", help="Print the introspect response as JSON")
    introspect.set_defaults(run=run_introspect)


def _body(items: list[str]) -> dict[str, Any]:
    if items == ["-"]:
        items = [sys.stdin.read()]
        if not items[0].strip():
            raise CommandError("expected a JSON object on stdin for the body, got nothing")
    return parse_pairs(items, "body")


def run_call(args: argparse.Namespace, output: Output) -> int:
    """``pysoa-like call``."""
    body = _body(args.body)
    context = parse_pairs(args.context, "context")
    target = Target.from_args(args)
    client = AnyServiceClient(target)
    try:
        response: ActionResponse = guarded(
            target,
            args.service,
            args.timeout,
            lambda: client.call_action(
                args.service,
                args.action,
                body,
                timeout=args.timeout,
                switches=args.switch or None,
                context=context or None,
                correlation_id=args.correlation_id,
            ),
        )
    except CallActionError as exc:
        if args.json:
            action = exc.actions[0]
            output.json({"action": action.action, "body": action.body, "errors": errors_as_dicts(action.errors)})
            return EXIT_FAILED
        return failed_exit(output, args.service, exc, args.verbose)
    except CallJobError as exc:
        if args.json:
            output.json({"action": args.action, "body": {}, "job_errors": errors_as_dicts(exc.errors)})
            return EXIT_FAILED
        return failed_exit(output, args.service, exc, args.verbose)
    if args.json:
        output.json({"action": response.action, "body": response.body, "errors": []}, pretty=False)
    else:
        output.json(response.body)
    return EXIT_OK


def _status(args: argparse.Namespace) -> tuple[Mapping[str, Any] | None, list[str]]:
    """The status body (``None`` if the action failed) and the reasons the service is not serving."""
    target = Target.from_args(args)
    client = AnyServiceClient(target)
    try:
        response = guarded(
            target,
            args.service,
            args.timeout,
            lambda: client.call_action(args.service, "status", {"verbose": True}, timeout=args.timeout),
        )
    except (CallActionError, CallJobError) as exc:
        errors = exc.errors if isinstance(exc, CallJobError) else [e for a in exc.actions for e in a.errors]
        return None, [f"the status action failed: {e.code}: {e.message}" for e in errors]
    body = body_of(response.body)
    health = body_of(body.get("healthcheck"))
    reasons = [f"{code}: {description}" for code, description in health.get("errors") or ()]
    return body, reasons


def run_health(args: argparse.Namespace, output: Output) -> int:
    """``pysoa-like health``: SERVING / NOT_SERVING, gRPC health-check style."""
    try:
        _, reasons = _status(args)
    except CommandError as exc:
        if exc.exit_code != EXIT_TRANSPORT:
            raise
        output.line(output.paint("NOT_SERVING", "red"))
        output.problem(f"Error: {exc}")
        return EXIT_TRANSPORT
    if args.json:
        output.json({"service": args.service, "status": "NOT_SERVING" if reasons else "SERVING", "reasons": reasons})
    else:
        output.line(output.paint("NOT_SERVING", "red") if reasons else output.paint("SERVING", "green"))
        for reason in reasons:
            output.problem(f"  {reason}")
    return EXIT_FAILED if reasons else EXIT_OK


def run_status(args: argparse.Namespace, output: Output) -> int:
    """``pysoa-like status``: versions, build and health check results."""
    body, reasons = _status(args)
    state = "NOT_SERVING" if reasons else "SERVING"
    if args.json:
        output.json({"service": args.service, "status": state, "reasons": reasons, "response": body})
        return EXIT_FAILED if reasons else EXIT_OK
    output.line(f"{args.service}: {output.paint(state, 'red' if reasons else 'green')}")
    if body is not None:
        rows = [
            ["version", body.get("version")],
            ["build", body.get("build")],
            ["pysoa_like", body.get("pysoa")],
            ["python", body.get("python")],
            ["conformity", body.get("conformity")],
        ]
        for name, value in rows:
            if value is not None:
                output.line(f"  {name:<11} {value}")
        health = body_of(body.get("healthcheck"))
        for label, key, colour in (("error", "errors", "red"), ("warning", "warnings", "yellow")):
            for code, description in health.get(key) or ():
                output.line(f"  {output.paint(label, colour):<11} {code}: {description}")
        diagnostics = health.get("diagnostics")
        if diagnostics:
            output.line("  diagnostics")
            for key, value in diagnostics.items():
                output.line(f"    {key}: {value}")
    else:
        for reason in reasons:
            output.problem(f"  {reason}")
    return EXIT_FAILED if reasons else EXIT_OK


def run_introspect(args: argparse.Namespace, output: Output) -> int:
    """``pysoa-like introspect``: documentation and schemas, readable."""
    target = Target.from_args(args)
    client = AnyServiceClient(target)
    request = {"action_name": args.action} if args.action else {}
    try:
        response = guarded(
            target,
            args.service,
            args.timeout,
            lambda: client.call_action(args.service, "introspect", request, timeout=args.timeout),
        )
    except CallActionError as exc:
        if args.action and any(e.field == "action_name" for a in exc.actions for e in a.errors):
            raise CommandError(
                f"service {args.service!r} has no action {args.action!r} "
                f"(`pysoa-like introspect {args.service}` lists them)",
                EXIT_FAILED,
            ) from exc
        return failed_exit(output, args.service, exc, args.verbose)
    except CallJobError as exc:
        return failed_exit(output, args.service, exc, args.verbose)
    body = body_of(response.body)
    if args.json:
        output.json(body)
        return EXIT_OK
    if not args.action:
        output.line(output.paint(args.service, "bold"))
        documentation = body.get("documentation")
        if documentation:
            output.line(textwrap.indent(textwrap.dedent(documentation).strip(), "  "))
        output.line(f"  actions: {', '.join(body.get('action_names') or ())}")
    actions = body_of(body.get("actions"))
    for index, name in enumerate(body.get("action_names") or sorted(actions)):
        description = body_of(actions.get(name))
        if index or not args.action:
            # A blank line between sections, none before the first line printed.
            output.line()
        output.line(output.paint(name, "bold"))
        documentation = description.get("documentation")
        if documentation:
            output.line(textwrap.indent(textwrap.dedent(documentation).strip(), "  "))
        for label, key in (("request", "request_schema"), ("response", "response_schema")):
            schema = description.get(key)
            output.line(f"  {label}:")
            if schema is None:
                output.line("    (no schema)")
                continue
            for line in schema_lines(schema):
                output.line("    " + line)
    return EXIT_OK
