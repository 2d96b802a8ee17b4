"""Turning per-repetition results into figures, ratios, target checks and a readable table."""

from __future__ import annotations

from typing import Any

from benchmarks._stats import summarize

__all__ = [
    "EVENT_IMPLEMENTATIONS",
    "FIGURES",
    "RATIOS",
    "TARGETS",
    "build_report",
    "format_table",
    "ratio_keys",
    "rep_figures",
]

#: The implementations the events workload runs for (PySOA has no events; a baseline is not re-measured).
EVENT_IMPLEMENTATIONS = ("floor", "like")

#: (key, label, unit format) of every figure, per implementation.
FIGURES: list[tuple[str, str, str]] = [
    ("serial_p50_us", "serial p50 (us)", "{:,.0f}"),
    ("serial_p90_us", "serial p90 (us)", "{:,.0f}"),
    ("serial_p99_us", "serial p99 (us)", "{:,.0f}"),
    ("throughput_calls_per_s", "throughput (calls/s)", "{:,.0f}"),
    ("big_ms", "1 MiB response (ms)", "{:,.2f}"),
    ("client_cpu_us", "client CPU/call (us)", "{:,.0f}"),
    ("server_cpu_us", "server CPU/call (us)", "{:,.0f}"),
    ("redis_cpu_us", "redis CPU/call (us)", "{:,.0f}"),
    ("throughput_client_cpu_us", "thru client CPU/call (us)", "{:,.0f}"),
    ("throughput_server_cpu_us", "thru servers CPU/call (us)", "{:,.0f}"),
    ("throughput_redis_cpu_us", "thru redis CPU/call (us)", "{:,.0f}"),
    # Events (service pool, 2 workers): the floor and pysoa_like only.
    ("events_published_per_s", "events published/s", "{:,.0f}"),
    ("events_handled_per_s", "events handled/s (2 workers)", "{:,.0f}"),
    ("events_drained_per_s", "events drained/s (backlog)", "{:,.0f}"),
    ("events_client_cpu_us", "events client CPU/event (us)", "{:,.0f}"),
    ("events_workers_cpu_us", "events workers CPU/event (us)", "{:,.0f}"),
    ("events_redis_cpu_us", "events redis CPU/event (us)", "{:,.0f}"),
]

#: (key, label, numerator implementation, denominator implementation, figure) of every ratio.
RATIOS: list[tuple[str, str, str, str, str]] = [
    ("serial_p50_like_over_floor", "serial p50 pysoa_like/floor", "like", "floor", "serial_p50_us"),
    ("throughput_like_over_floor", "throughput pysoa_like/floor", "like", "floor", "throughput_calls_per_s"),
    ("big_like_over_floor", "1 MiB pysoa_like/floor", "like", "floor", "big_ms"),
    ("throughput_like_over_pysoa", "throughput pysoa_like/PySOA", "like", "pysoa", "throughput_calls_per_s"),
    (
        "events_published_like_over_floor",
        "events published pysoa_like/floor",
        "like",
        "floor",
        "events_published_per_s",
    ),
    ("events_handled_like_over_floor", "events handled pysoa_like/floor", "like", "floor", "events_handled_per_s"),
    ("events_drained_like_over_floor", "events drained pysoa_like/floor", "like", "floor", "events_drained_per_s"),
    ("serial_p50_like_over_pysoa", "serial p50 pysoa_like/PySOA", "like", "pysoa", "serial_p50_us"),
    ("serial_p50_pysoa_over_floor", "serial p50 PySOA/floor", "pysoa", "floor", "serial_p50_us"),
    # With --baseline: the baseline's pysoa_like against the floor, and this checkout's against the baseline.
    ("serial_p50_base_over_floor", "serial p50 baseline/floor", "base", "floor", "serial_p50_us"),
    ("throughput_base_over_floor", "throughput baseline/floor", "base", "floor", "throughput_calls_per_s"),
    ("big_base_over_floor", "1 MiB baseline/floor", "base", "floor", "big_ms"),
    ("serial_p50_like_over_base", "serial p50 pysoa_like/baseline", "like", "base", "serial_p50_us"),
    ("throughput_like_over_base", "throughput pysoa_like/baseline", "like", "base", "throughput_calls_per_s"),
    ("big_like_over_base", "1 MiB pysoa_like/baseline", "like", "base", "big_ms"),
    ("client_cpu_like_over_base", "client CPU pysoa_like/baseline", "like", "base", "client_cpu_us"),
    ("server_cpu_like_over_base", "server CPU pysoa_like/baseline", "like", "base", "server_cpu_us"),
    # At-least-once delivery against pysoa_like's default (at most once), idempotent actions then claimed ones.
    *(
        (f"{figure_key}_{short}_over_like", f"{figure_label} {name}/at-most-once", implementation, "like", figure)
        for implementation, short, name in (("alo", "alo", "at-least-once"), ("alo_claim", "claim", "claimed"))
        for figure_key, figure_label, figure in (
            ("serial_p50", "serial p50", "serial_p50_us"),
            ("throughput", "throughput", "throughput_calls_per_s"),
            ("big", "1 MiB", "big_ms"),
            ("server_cpu", "server CPU", "server_cpu_us"),
            ("redis_cpu", "redis CPU", "redis_cpu_us"),
        )
    ),
]

#: (label, source, key, comparison, bound): source is "ratios" or "like" (a pysoa_like figure).
TARGETS: list[tuple[str, str, str, str, float]] = [
    ("serial p50 <= 1.25 x floor", "ratios", "serial_p50_like_over_floor", "<=", 1.25),
    ("throughput >= 0.60 x floor", "ratios", "throughput_like_over_floor", ">=", 0.60),
    ("1 MiB response <= 1.25 x floor", "ratios", "big_like_over_floor", "<=", 1.25),
    ("throughput >= 3 x PySOA 1.4.9", "ratios", "throughput_like_over_pysoa", ">=", 3.0),
    ("client CPU <= 80 us per call", "like", "client_cpu_us", "<=", 80.0),
    ("server CPU <= 130 us per call", "like", "server_cpu_us", "<=", 130.0),
]


def ratio_keys(implementations: set[str], figures: dict[str, dict[str, Any]] | None = None) -> set[str]:
    """The keys of the ratios a run of ``implementations`` (keys such as ``floor``, ``like``) reports.

    Given the run's ``figures`` (the report's summaries by implementation), a ratio whose denominator was measured
    as 0 in every repetition is left out, as the report leaves it out (CPU time below the clock's tick in a smoke
    run).
    """
    return {
        key
        for key, _, numerator, denominator, figure in RATIOS
        if {numerator, denominator} <= implementations
        and (figures is None or figures[denominator].get(figure, {}).get("max", 1) > 0)
    }


def rep_figures(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The figures of one implementation in one repetition, from its client results (events: floor and like)."""
    serial, throughput, big = results["serial"], results["throughput"], results["big"]
    figures = {
        "serial_p50_us": serial["p50_us"],
        "serial_p90_us": serial["p90_us"],
        "serial_p99_us": serial["p99_us"],
        "throughput_calls_per_s": throughput["calls_per_s"],
        "big_ms": big["median_ms"],
        "client_cpu_us": serial["cpu_us_per_call"]["client"],
        "server_cpu_us": serial["cpu_us_per_call"]["servers"],
        "redis_cpu_us": serial["cpu_us_per_call"]["redis"],
        "throughput_client_cpu_us": throughput["cpu_us_per_call"]["client"],
        "throughput_server_cpu_us": throughput["cpu_us_per_call"]["servers"],
        "throughput_redis_cpu_us": throughput["cpu_us_per_call"]["redis"],
    }
    events = results.get("events")
    if events is not None:
        figures.update(
            events_published_per_s=events["published_per_s"],
            events_handled_per_s=events["handled_per_s"],
            events_drained_per_s=events["drained_per_s"],
            events_client_cpu_us=events["cpu_us_per_event"]["client"],
            events_workers_cpu_us=events["cpu_us_per_event"]["workers"],
            events_redis_cpu_us=events["cpu_us_per_event"]["redis"],
        )
    return figures


def build_report(reps: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Median and min-max of each figure and of each ratio (ratios taken within each repetition).

    Args:
        reps: Per repetition, ``{implementation key: figures}``.

    Returns:
        ``{"figures": {impl: {figure: summary}}, "ratios": {ratio: summary}, "targets": [...]}``.
    """
    keys = list(reps[0])
    # A figure an implementation does not have (events for PySOA) is left out.
    figures = {
        impl: {key: summarize([rep[impl][key] for rep in reps]) for key, _, _ in FIGURES if key in reps[0][impl]}
        for impl in keys
    }
    ratios = {}
    for key, _, numerator, denominator, figure in RATIOS:
        if (
            numerator in keys
            and denominator in keys
            and figure in figures[numerator]
            and figure in figures[denominator]
        ):
            # A figure measured as 0 (CPU time below the clock's tick in a smoke run) gives no ratio.
            values = [rep[numerator][figure] / rep[denominator][figure] for rep in reps if rep[denominator][figure]]
            if values:
                ratios[key] = summarize(values)
    targets = []
    for label, source, key, comparison, bound in TARGETS:
        summary = ratios.get(key) if source == "ratios" else figures.get("like", {}).get(key)
        if summary is None:
            continue
        value = float(summary["median"])  # type: ignore[arg-type]
        met = value <= bound if comparison == "<=" else value >= bound
        targets.append({"target": label, "key": key, "median": value, "bound": bound, "met": met})
    return {"figures": figures, "ratios": ratios, "targets": targets}


def _cell(summary: dict[str, Any] | None, fmt: str) -> str:
    if summary is None:
        return "-"
    return f"{fmt.format(summary['median'])} [{fmt.format(summary['min'])}-{fmt.format(summary['max'])}]"


def format_table(report: dict[str, Any], labels: dict[str, str]) -> str:
    """The report as plain-text tables: figures per implementation, ratios, targets.

    Each cell is ``median [min-max]`` over the repetitions.
    """
    impls = list(report["figures"])
    header = ["figure", *(labels[impl] for impl in impls)]
    rows = [header]
    for key, label, fmt in FIGURES:
        rows.append([label, *(_cell(report["figures"][impl].get(key), fmt) for impl in impls)])
    rows.append(["", *([""] * len(impls))])
    rows.append(["ratio (within each rep)", "median [min-max]", *([""] * (len(impls) - 1))])
    for key, label, *_ in RATIOS:
        if key in report["ratios"]:
            rows.append([label, _cell(report["ratios"][key], "{:.2f}"), *([""] * (len(impls) - 1))])
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    lines.append("")
    lines.append("targets (medians):")
    for target in report["targets"]:
        status = "met" if target["met"] else "NOT met"
        lines.append(f"  {target['target']:<34} {target['median']:>9.2f}  {status}")
    return "\n".join(lines)
