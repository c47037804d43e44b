"""Write BENCHMARKS.md and the chart from one run's figures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: name → (threshold, shown target). Issue 14's targets first, then the earlier ones.
TARGETS = {
    "processor ÷ limit": (0.5, "≥ 0.5"),
    "processor ÷ Quix Streams": (1.0, "≥ 1.0"),
    "replay ÷ limit": (0.7, "≥ 0.7"),
    "limit with chain ÷ without": (0.75, "≥ 0.75"),
    "1% refused ÷ clean (replay)": (0.5, "≥ 0.5"),
    "processor ÷ naive": (4.0, "≥ 4"),
    "replay ÷ live": (1.5, "≥ 1.5"),
}
#: Offered rate (events/s) → the p99 latency target (ms).
LATENCY_TARGETS = {200: 100.0, 2000: 250.0}


def ratios(f: dict[str, float]) -> dict[str, float]:
    """The ratios of one run's figures that have a target (those it measured)."""
    out = {"processor ÷ limit": f["processor_1"] / f["limit"],
           "replay ÷ limit": f["replay"] / f["limit"]}
    if "quix" in f:
        out["processor ÷ Quix Streams"] = f["processor_1"] / f["quix"]
    if "limit_no_chain" in f:
        out["limit with chain ÷ without"] = f["limit"] / f["limit_no_chain"]
    if "replay_refused_1pct" in f:
        out["1% refused ÷ clean (replay)"] = f["replay_refused_1pct"] / f["replay"]
    out["processor ÷ naive"] = f["processor_1"] / f["naive"]
    out["replay ÷ live"] = f["replay"] / f["processor_1"]
    return {name: out[name] for name in TARGETS if name in out}


def latency_rates(f: dict[str, float]) -> list[int]:
    """The offered rates of the latency curve in *f*, ascending."""
    return sorted(int(k.split("_")[1]) for k in f
                  if k.startswith("latency_") and k.endswith("_p99"))


def _costs(f: dict[str, float]) -> list[str]:
    """Where a replayed event's time goes, and the ceilings that follow (per event: a
    rate's own count, distinct events for the limit, messages for the replay)."""
    if "replay_pg_us" not in f:
        return []
    pg, client, decode = f["replay_pg_us"], f["replay_client_us"], f["decode_us"]
    pg_ceiling, decode_ceiling = 1e6 / pg, 1e6 / decode
    return [
        "## Where the time goes",
        "",
        "CPU per event, from the operating system's accounting: PostgreSQL's processes "
        "(the whole stack's server) and the client's.",
        "",
        "| µs per event | limit | limit without the chain | replay |",
        "|---|---:|---:|---:|",
        f"| PostgreSQL CPU | {f['limit_pg_us']:.0f} | {f.get('limit_no_chain_pg_us', 0):.0f} "
        f"| {pg:.0f} |",
        f"| client CPU (replay: consume, decode, merge, parameters) | | | {client:.0f} |",
        f"| wall time (1 ÷ rate) | {1e6 / f['limit']:.0f} | "
        f"{1e6 / f.get('limit_no_chain', f['limit']):.0f} | {1e6 / f['replay']:.0f} |",
        "",
        f"- PostgreSQL alone spends {pg:.0f} µs on each replayed event: the apply path's "
        f"statements could not exceed {pg_ceiling:,.0f} events/s "
        f"({pg_ceiling / f['limit']:.2f} of the limit) even if the client cost nothing "
        "and ran beside the server.",
        f"- Decoding a message into its model (fastavro, the bounds, pydantic) takes "
        f"{decode:.0f} µs in one process: {decode_ceiling:,.0f} messages/s "
        f"({decode_ceiling / f['limit']:.2f} of the limit) for any one-process path that "
        "builds the models, before it writes anything.",
        "",
    ]


def _draw(path: Path, draw: Callable[[Any, Any], None]) -> bool:
    """Draw one 8x4 chart with *draw(ax, matplotlib)* into *path*; False without
    matplotlib (the bench extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8, 4))
    draw(ax, matplotlib)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _chart(figures: dict[str, float], path: Path) -> bool:
    names = [("limit", "COPY limit"), ("processor_1", "processor x1"),
             ("processor_2", "processor x2"), ("replay", "replay"), ("quix", "Quix Streams"),
             ("naive", "naive")]
    shown = [(label, figures[key]) for key, label in names if key in figures]

    def draw(ax: Any, _: Any) -> None:
        bars = ax.barh([label for label, _ in shown], [value for _, value in shown],
                       color=["#888", "#1f77b4", "#1f77b4", "#2ca02c", "#ff7f0e", "#d62728"]
                       [:len(shown)])
        ax.bar_label(bars, labels=[f"{v:,.0f}" for _, v in shown], padding=3)
        ax.set_xlabel("events per second (higher is better)")
        ax.invert_yaxis()
        ax.set_title("emr-streams throughput, same run, same topics and tables")

    return _draw(path, draw)


def _latency_chart(f: dict[str, float], path: Path) -> bool:
    rates = latency_rates(f)

    def draw(ax: Any, matplotlib: Any) -> None:
        for q, style in (("p50", "o-"), ("p99", "s-")):
            ax.plot(rates, [f[f"latency_{r}_{q}"] for r in rates], style, label=q)
        for rate, target in LATENCY_TARGETS.items():
            ax.plot([rate], [target], "rv", markersize=9)
            ax.annotate(f"p99 target {target:.0f} ms", (rate, target),
                        textcoords="offset points", xytext=(6, -12), color="r", fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(rates, [f"{r:,}" for r in rates])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("events per second offered")
        ax.set_ylabel("latency, ms (send to apply)")
        ax.set_title("emr-streams end-to-end latency, one processor, same run")
        ax.legend()

    return _draw(path, draw)


def write_report(machine: dict[str, str], f: dict[str, float], notes: list[str],
                 output: Path, *, command: str = "make bench",
                 started: datetime | None = None) -> None:
    """BENCHMARKS.md (and bench/throughput.png, bench/latency.png beside the report)."""
    folder = output.parent / ("bench" if output.name == "BENCHMARKS.md" else "")
    folder.mkdir(parents=True, exist_ok=True)
    chart, curve = folder / "throughput.png", folder / "latency.png"
    has_chart = _chart(f, chart)
    has_curve = _latency_chart(f, curve)
    shown = ratios(f)
    rates = latency_rates(f)
    lines = [
        "# Benchmarks",
        "",
        f"One run of `{command}` started {started or datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
        "Every figure "
        "below comes from that run, on the machine described; ratios compare figures of "
        "the same run.",
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in machine.items()),
        "",
        "## Workload",
        "",
        f"{f['events']:,.0f} messages ({f['distinct']:,.0f} distinct events: tasks with "
        "handovers and EMR verifications mixed in, 1% concurrent task edits, and 5% re-sent "
        "duplicates), Avro single-object encoded, pre-produced to three topics of 3 "
        f"partitions (generation {f['generate_seconds']:.0f} s, produce "
        f"{f['produce_seconds']:.0f} s). Each system starts on an empty, migrated database.",
        "",
        "## Throughput (events per second, measured from the database side)",
        "",
        "| system | events/s | what it does per event |",
        "|---|---:|---|",
        f"| physical limit: psycopg COPY, no Kafka | {f['limit']:,.0f} | ledger row, audit row,"
        " identities and task upsert (latest state), bulk COPY |",
        *([f"| physical limit without the audit hash chain | {f['limit_no_chain']:,.0f} | "
           "same rows; the chain's triggers and constraints dropped first |"]
          if "limit_no_chain" in f else []),
        f"| **emr-streams processor, 1 instance** | **{f['processor_1']:,.0f}** | decode, "
        "dedupe, identities, per-field merge, conflicts, audit, outbox; commit after the "
        "transaction |",
        f"| emr-streams processor, 2 instances | {f['processor_2']:,.0f} | same, one group |",
        f"| `emr-streams replay` into the database | {f['replay']:,.0f} | same apply path, "
        "confluent-kafka batch reads |",
    ]
    if "replay_refused_1pct" in f:
        lines.append(f"| `emr-streams replay`, 1% of task events refused by the database | "
                     f"{f['replay_refused_1pct']:,.0f} | same; refused batches split in "
                     "halves until the refused records are alone (docs/failures.md) |")
    if "quix" in f:
        lines.append(f"| Quix Streams + PostgreSQLSink | {f['quix']:,.0f} | decode, upsert "
                     "latest row per aggregate (no merge, ledger or audit) |")
    lines += [
        f"| naive consumer | {f['naive']:,.0f} | one INSERT … ON CONFLICT and one commit "
        "per message |",
        "",
        "## Ratios and targets",
        "",
        "| ratio | value | target | met |",
        "|---|---:|---|---|",
        *(f"| {name} | {value:.2f} | {TARGETS[name][1]} | "
          f"{'yes' if value >= TARGETS[name][0] else '**no**'} |"
          for name, value in shown.items()),
        "",
        *_costs(f),
        "## Latency and memory",
        "",
        "End-to-end latency, one processor, each rate offered for "
        f"{f.get('latency_seconds', 0):.0f} s in turn: from the producer's send time to the "
        "start of the transaction that applied the event (`processed_events.processed_at`).",
        "",
        "| offered events/s | events | p50 ms | p99 ms | p99.9 ms | p99 target | met |",
        "|---:|---:|---:|---:|---:|---|---|",
        *(f"| {r:,} | {f[f'latency_{r}_events']:,.0f} | {f[f'latency_{r}_p50']:,.0f} | "
          f"{f[f'latency_{r}_p99']:,.0f} | {f[f'latency_{r}_p999']:,.0f} | "
          + (f"< {LATENCY_TARGETS[r]:.0f} ms | "
             f"{'yes' if f[f'latency_{r}_p99'] < LATENCY_TARGETS[r] else '**no**'} |"
             if r in LATENCY_TARGETS else "— | |")
          for r in rates),
        "",
        f"- Peak resident memory of a processor: {f['rss_1_mib']:.0f} MiB (1 instance), "
        f"{f['rss_2_mib']:.0f} MiB (largest of 2) (target < 300 MiB: "
        f"{'met' if max(f['rss_1_mib'], f['rss_2_mib']) < 300 else '**not met**'}).",
        "",
    ]
    if has_chart:
        lines += [f"![throughput]({chart.relative_to(output.parent)})", ""]
    if has_curve:
        lines += [f"![latency]({curve.relative_to(output.parent)})", ""]
    notes = notes + [f"At {r:,} events/s, {f[f'latency_{r}_missing']:,.0f} events were not "
                     "applied within 120 s of the last send; the percentiles leave them out."
                     for r in rates if f.get(f"latency_{r}_missing")]
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    output.write_text("\n".join(lines))
