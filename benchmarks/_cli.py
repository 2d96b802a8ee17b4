"""The command-line pieces the benchmarks share: their common options and where their JSON goes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["benchmark_parser", "write_report"]


def benchmark_parser(
    module: str,
    description: str,
    output: Path,
    *,
    reps_help: str = "Repetitions",
    calls_help: str = "Timed calls per workload",
    smoke_help: str = "Tiny counts, one repetition: checks the benchmark works",
) -> argparse.ArgumentParser:
    """A parser for ``python -m <module>`` with the options every benchmark run takes.

    They are ``--reps`` (default 5), ``--calls`` (3000), ``--warmup`` (300 untimed serial calls), ``--smoke`` and
    ``--output`` (default ``output``); the caller adds its own.

    Args:
        module: The benchmark's module, for the usage line.
        description: What the benchmark does, in one line.
        output: Where the JSON goes by default.
        reps_help: What a repetition is, for ``--help``.
        calls_help: What ``--calls`` counts, for ``--help``.
        smoke_help: What ``--smoke`` does, for ``--help``.
    """
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--reps", type=int, default=5, help=f"{reps_help} (default 5)")
    parser.add_argument("--calls", type=int, default=3000, help=f"{calls_help} (default 3000)")
    parser.add_argument("--warmup", type=int, default=300, help="Untimed serial calls first (default 300)")
    parser.add_argument("--smoke", action="store_true", help=smoke_help)
    parser.add_argument("--output", type=Path, default=output, help="Where to write the JSON")
    return parser


def write_report(report: dict[str, Any], output: Path) -> None:
    """Write ``report`` as indented JSON to ``output`` (its folder made if need be) and say where."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON written to {output}")
