"""Write BENCHMARKS.md and the chart from one run's figures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

TARGETS = {
    "processor ÷ limit": (0.40, "≥ 0.40"),
    "processor ÷ naive": (4.0, "≥ 4x"),
    "processor ÷ Quix Streams": (1.0, "≥ 1.0x"),
    "replay ÷ live": (1.5, "≥ 1.5x"),
    "1% refused ÷ clean (replay)": (0.5, "≥ 0.5x"),
}


def _chart(figures: dict[str, float], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [("limit", "COPY limit"), ("processor_1", "processor x1"),
             ("processor_2", "processor x2"), ("replay", "replay"), ("quix", "Quix Streams"),
             ("naive", "naive")]
    shown = [(label, figures[key]) for key, label in names if key in figures]
    fig, ax = plt.subplots(figsize=(8, 4))
    bars = ax.barh([label for label, _ in shown], [value for _, value in shown],
                   color=["#888", "#1f77b4", "#1f77b4", "#2ca02c", "#ff7f0e", "#d62728"]
                   [:len(shown)])
    ax.bar_label(bars, labels=[f"{v:,.0f}" for _, v in shown], padding=3)
    ax.set_xlabel("events per second (higher is better)")
    ax.invert_yaxis()
    ax.set_title("emr-streams throughput, same run, same topics and tables")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(machine: dict[str, str], f: dict[str, float], notes: list[str],
                 output: Path) -> None:
    """BENCHMARKS.md (and bench/throughput.png beside the report)."""
    ratios = {"processor ÷ limit": f["processor_1"] / f["limit"],
              "processor ÷ naive": f["processor_1"] / f["naive"],
              "replay ÷ live": f["replay"] / f["processor_1"]}
    if "replay_refused_1pct" in f:
        ratios["1% refused ÷ clean (replay)"] = f["replay_refused_1pct"] / f["replay"]
    if "quix" in f:
        ratios["processor ÷ Quix Streams"] = f["processor_1"] / f["quix"]
    chart = output.parent / ("bench/throughput.png" if output.name == "BENCHMARKS.md"
                             else "throughput.png")
    chart.parent.mkdir(parents=True, exist_ok=True)
    has_chart = _chart(f, chart)
    lines = [
        "# Benchmarks",
        "",
        f"One run of `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Every figure "
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
          for name, value in ratios.items()),
        "",
        "## Latency and memory",
        "",
        f"- End-to-end latency at {f['latency_offered']:,.0f} events/s offered "
        f"({f['latency_events']:,.0f} events): p50 {f['latency_p50']:.0f} ms, "
        f"p99 {f['latency_p99']:.0f} ms, p99.9 {f['latency_p999']:.0f} ms "
        f"(target p99 < 250 ms: {'met' if f['latency_p99'] < 250 else '**not met**'}). "
        "Measured from the producer's send time to the start of the transaction that "
        "applied the event (`processed_events.processed_at`).",
        f"- Peak resident memory of a processor: {f['rss_1_mib']:.0f} MiB (1 instance), "
        f"{f['rss_2_mib']:.0f} MiB (largest of 2) (target < 300 MiB: "
        f"{'met' if max(f['rss_1_mib'], f['rss_2_mib']) < 300 else '**not met**'}).",
        "",
    ]
    if has_chart:
        lines += [f"![throughput]({chart.relative_to(output.parent)})", ""]
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    output.write_text("\n".join(lines))
