"""Run the benchmarks against the local stack and write BENCHMARKS.md and a chart.

    .venv/bin/python bench/run.py [--events 1000000] [--smoke]

Every figure comes from this run, on this machine: the processor, the physical limit
(psycopg COPY of the same rows, no Kafka), a naive consumer and Quix Streams.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.events import Encoded, workload  # noqa: E402
from streams.config import ClockSettings, StackSettings  # noqa: E402
from streams.contracts import AvroCodec, SchemaCatalogue  # noqa: E402
from streams.contracts.models import TaskEvent, event_from_avro  # noqa: E402
from streams.db.migrate import MigrationRunner  # noqa: E402
from streams.devstack import LocalStack  # noqa: E402
from streams.devstack.kafka import KAFKA_VERSION  # noqa: E402
from streams.kafka.admin import TopicSpec, delete_topics, ensure_topics  # noqa: E402
from streams.kafka.offsets import group_lag  # noqa: E402
from streams.kafka.producer import EventProducer  # noqa: E402
from streams.registry import AGGREGATES, by_schema  # noqa: E402

PY = sys.executable
#: The word of each aggregate in topic names (streams.registry).
PLURALS = tuple(a.plural for a in AGGREGATES)
#: The audit table without its hash chain (migrations 0009, 0013, 0018), for the limit
#: measured without tamper evidence.
UNCHAINED = """
DROP TRIGGER trg_audit_logs_zz_chain ON audit_logs;
DROP TRIGGER trg_audit_logs_chain_head ON audit_logs;
ALTER TABLE audit_logs DROP CONSTRAINT chk_audit_logs_chain,
    ALTER COLUMN chain_key DROP NOT NULL, ALTER COLUMN chain_seq DROP NOT NULL,
    ALTER COLUMN prev_hash DROP NOT NULL, ALTER COLUMN row_hash DROP NOT NULL
"""
#: Offered rates of the latency curve (events/s); bench/report.py holds the p99 targets.
LATENCY_RATES = (200, 1000, 2000, 4000)
QUIX_PY = ROOT / "bench" / ".venv-quix" / "bin" / "python"


@dataclass
class Results:
    machine: dict[str, str] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stack_settings() -> StackSettings:
    """The local stack's settings from EMR_STREAMS_STACK_* (its folder: .stack of the source
    tree unless EMR_STREAMS_STACK_DIR says else), so a bench runs beside a stack on other
    ports."""
    settings = StackSettings()
    if "EMR_STREAMS_STACK_DIR" not in os.environ:
        settings = settings.model_copy(update={"dir": ROOT / ".stack"})
    return settings


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        settings = stack_settings()
        self.stack = LocalStack(settings)
        self.state_dir = settings.dir.resolve()
        status = self.stack.up()
        self.bootstrap = status.kafka_bootstrap
        self.admin_url = self.stack.postgres.url("postgres")
        self.prefix = f"bench.{uuid.uuid4().hex[:6]}"
        self.topics = {s: f"{self.prefix}.{s}" for s in PLURALS}
        self.databases: list[str] = []
        self.results = Results()

    # -- plumbing ---------------------------------------------------------------------------
    def database(self) -> str:
        """A new, migrated database for one measurement. The previous measurement's is
        dropped first: autovacuum of its hundreds of thousands of fresh rows would run
        beside this one (200,000 events: the processor measured 1,152/s with the limit's
        databases left in place, 1,727/s in the next run, which dropped them)."""
        self.drop_databases()
        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            offset = ClockSettings().offset_us  # the suite's clock, when a test runs this
            if offset:
                conn.execute(sql.SQL("ALTER DATABASE {} SET emr_streams.clock_offset_us = {}")
                             .format(sql.Identifier(name), sql.Literal(str(offset))))
        self.databases.append(name)
        url = self.stack.postgres.url(name)
        MigrationRunner(url).up()
        return url

    def env(self, url: str, group: str, topics: dict[str, str] | None = None) -> dict[str, str]:
        t = topics or self.topics
        return {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "DATABASE_URL": url,
                "EMR_STREAMS_KAFKA_TASKS_TOPIC": t["tasks"],
                "EMR_STREAMS_KAFKA_HANDOVERS_TOPIC": t["handovers"],
                "EMR_STREAMS_KAFKA_VERIFICATIONS_TOPIC": t["verifications"],
                "EMR_STREAMS_KAFKA_STATE_TOPIC_PREFIX": f"{self.prefix}.state",
                "EMR_STREAMS_KAFKA_GROUP_ID": group,
                "EMR_STREAMS_PROCESSOR_BATCH_SIZE": str(self.args.batch_size),
                "EMR_STREAMS_PROCESSOR_COMMIT_INTERVAL": "1.0",
                "EMR_STREAMS_PROCESSOR_LOG_LEVEL": "warning",
                "EMR_STREAMS_PROCESSOR_HTTP_PORT": str(free_port())}

    def make_topics(self, topics: dict[str, str]) -> None:
        specs = [TopicSpec(name=n, partitions=3) for n in topics.values()]
        specs += [TopicSpec(name=f"{n}.dlq", partitions=1) for n in topics.values()]
        specs += [TopicSpec(name=f"{self.prefix}.state.{s}.v1", partitions=3,
                            config={"cleanup.policy": "compact"})
                  for s in PLURALS]
        ensure_topics(self.bootstrap, specs)

    def topic_of(self, schema: str, topics: dict[str, str]) -> str:
        return topics[by_schema(schema).plural]

    def produce(self, messages: list[Encoded], topics: dict[str, str]) -> float:
        producer = EventProducer({"bootstrap.servers": self.bootstrap},
                                 **{"linger.ms": 20, "batch.size": 1_000_000})
        started = time.perf_counter()
        for m in messages:
            producer.produce(self.topic_of(m.schema, topics), key=m.key, value=m.value)
        producer.flush(300)
        return time.perf_counter() - started

    @staticmethod
    def count(url: str) -> int:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM processed_events").fetchone()
        return int(row[0]) if row else 0

    def postgres_cpu(self) -> float:
        """CPU seconds the stack's PostgreSQL has used so far: the postmaster, the backends
        it has reaped and the processes still running (all databases of the stack)."""
        pid = self.stack.postgres.pid()
        if pid is None:
            raise RuntimeError("the stack's PostgreSQL is not running")
        root = psutil.Process(pid)
        t = root.cpu_times()
        total = float(t.user + t.system + t.children_user + t.children_system)
        for child in root.children():
            with contextlib.suppress(psutil.Error):
                c = child.cpu_times()
                total += c.user + c.system
        return total

    # -- runs -----------------------------------------------------------------------------
    def run_processors(self, instances: int, distinct: int) -> tuple[float, float]:
        """Events/s from the first applied row to the last, and peak RSS (MiB)."""
        url = self.database()
        group = f"{self.prefix}.g{instances}.{uuid.uuid4().hex[:4]}"
        procs = [subprocess.Popen([PY, "-m", "streams.cli.main", "run"],
                                  env=self.env(url, group), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, cwd=ROOT)
                 for _ in range(instances)]
        peak = 0.0
        first = last = None
        try:
            deadline = time.monotonic() + self.args.timeout
            while time.monotonic() < deadline:
                for p in procs:
                    with contextlib.suppress(psutil.Error):
                        peak = max(peak, psutil.Process(p.pid).memory_info().rss / 2**20)
                done = self.count(url)
                now = time.perf_counter()
                if done and first is None:
                    first = (now, done)
                if done >= distinct:
                    last = (now, done)
                    break
                time.sleep(0.25)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(60)
        if first is None or last is None:
            raise RuntimeError(f"{instances} processor(s) did not finish in time")
        return (last[1] - first[1]) / max(last[0] - first[0], 1e-9), peak

    def run_limit(self, messages: list[Encoded], *, chain: bool = True) -> float:
        """COPY of the same rows (ledger, audit, task state) with the same upsert, no Kafka.

        Without *chain*, the audit rows are written with the hash chain's triggers and
        constraints removed from the database first: what tamper evidence costs. Records
        PostgreSQL's CPU per event (``limit_pg_us``, ``limit_no_chain_pg_us``) and what
        decoding a message into its model costs in one process (``decode_us``)."""
        codec = AvroCodec(SchemaCatalogue())
        events = {}
        decoding = time.perf_counter()
        for m in messages:
            d = codec.decode(m.value)
            events[m.event_id] = event_from_avro(d.schema, d.record)
        self.results.figures["decode_us"] = 1e6 * (time.perf_counter() - decoding) / len(messages)
        url = self.database()
        if not chain:
            with psycopg.connect(url) as conn:
                conn.execute(UNCHAINED)
        cpu = self.postgres_cpu()
        started = time.perf_counter()
        with psycopg.connect(url) as conn:
            with conn.cursor().copy("COPY processed_events (event_id, event_type, aggregate_id,"
                                    " topic, partition, \"offset\") FROM STDIN") as copy:
                for i, e in enumerate(events.values()):
                    copy.write_row((e.event_id, e.event_type, e.aggregate_id, "t", 0, i))
            with conn.cursor().copy("COPY audit_logs (event_id, event_type, action, "
                                    "entity_type, entity_id, actor_id, source_system) "
                                    "FROM STDIN") as copy:
                for e in events.values():
                    copy.write_row((e.event_id, e.event_type, e.event_type.lower(),
                                    e.aggregate_type, e.aggregate_id, e.actor.id,
                                    e.source_system))
            conn.execute("CREATE TEMP TABLE stage (id uuid, title text, status text, "
                         "hlc bigint, patient uuid, patient_mrn text, patient_emr text, "
                         "patient_emr_id text, dep uuid, dep_code text, creator uuid, "
                         "creator_name text)")
            with conn.cursor().copy("COPY stage FROM STDIN") as copy:
                for e in events.values():
                    if e.schema_name != "task_event":
                        continue
                    t = e.task  # type: ignore[union-attr]
                    copy.write_row((e.aggregate_id, t.title,
                                    getattr(e.payload, "status", None) or "PENDING",
                                    e.hlc.physical_us, t.patient.id, t.patient.mrn,
                                    t.patient.emr_system, t.patient.emr_id, t.department.id,
                                    t.department.code, t.created_by.id, t.created_by.username))
            conn.execute("INSERT INTO departments (id, code, name) SELECT DISTINCT dep, "
                         "dep_code, dep_code FROM stage ON CONFLICT DO NOTHING")
            conn.execute("INSERT INTO users (id, username, display_name, role) SELECT "
                         "DISTINCT creator, creator_name, creator_name, 'NURSE'::user_role "
                         "FROM stage ON CONFLICT DO NOTHING")
            conn.execute("INSERT INTO patients (id, mrn, emr_system, emr_id) SELECT DISTINCT "
                         "patient, patient_mrn, patient_emr::emr_system, patient_emr_id "
                         "FROM stage ON CONFLICT DO NOTHING")
            conn.execute("INSERT INTO tasks AS t (id, title, status, patient_id, created_by, "
                         "department_id, hlc_physical) SELECT DISTINCT ON (id) id, title, "
                         "status::task_status, patient, creator, dep, hlc FROM stage ORDER BY "
                         "id, hlc DESC ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
                         " hlc_physical = excluded.hlc_physical "
                         "WHERE excluded.hlc_physical >= t.hlc_physical")
            conn.commit()
        rate = len(events) / (time.perf_counter() - started)
        name = "limit" if chain else "limit_no_chain"
        self.results.figures[f"{name}_pg_us"] = 1e6 * (self.postgres_cpu() - cpu) / len(events)
        return rate

    def run_refused(self, messages: list[Encoded]) -> float:
        """Replay of the same workload where 1% of the task events are refused by the
        database (a patient snapshot whose MRN the trigger rejects): records/s."""
        codec = AvroCodec(SchemaCatalogue())
        topics = {k: f"{v}.refused" for k, v in self.topics.items()}
        self.make_topics(topics)
        spoiled: list[Encoded] = []
        tasks = 0
        for m in messages:
            if m.schema == "task_event":
                tasks += 1
                if tasks % 100 == 0:
                    decoded = codec.decode(m.value)
                    event = event_from_avro(decoded.schema, decoded.record)
                    assert isinstance(event, TaskEvent)
                    patient = event.task.patient.model_copy(update={
                        "id": uuid.uuid4(), "mrn": "lower-case-mrn",
                        "emr_id": f"refused-{tasks}"})
                    bad = event.model_copy(update={"task": event.task.model_copy(
                        update={"patient": patient})})
                    m = Encoded(m.schema, m.key, codec.encode("task_event", bad.to_avro()),
                                m.event_id)
            spoiled.append(m)
        self.produce(spoiled, topics)
        return self.replay_rate(self.database(), topics)

    def replay_rate(self, url: str, topics: dict[str, str]) -> float:
        started = time.perf_counter()
        read = 0
        for topic in topics.values():
            result = subprocess.run([PY, "-m", "streams.cli.main", "replay", "--topic", topic,
                                     "--json", "--batch-size", "5000", "--checkpoint",
                                     str(self.state_dir / f"{topic}.json")],
                                    env=self.env(url, "unused", topics), capture_output=True,
                                    text=True, cwd=ROOT, check=True)
            read += json.loads(result.stdout)["read"]
        return read / (time.perf_counter() - started)

    def run_replay(self, distinct: int) -> float:
        """Events/s of a replay into an empty database. Records the CPU per event of
        PostgreSQL (``replay_pg_us``) and of the replay processes (``replay_client_us``)."""
        url = self.database()
        cpu = self.postgres_cpu()
        client = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        read = 0
        for topic in self.topics.values():
            result = subprocess.run([PY, "-m", "streams.cli.main", "replay", "--topic", topic,
                                     "--json", "--batch-size", "5000", "--checkpoint",
                                     str(self.state_dir / f"{topic}.json")],
                                    env=self.env(url, "unused"), capture_output=True, text=True,
                                    cwd=ROOT, check=True)
            read += json.loads(result.stdout)["read"]
        elapsed = time.perf_counter() - started
        pg = self.postgres_cpu() - cpu
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = after.ru_utime + after.ru_stime - client.ru_utime - client.ru_stime
        self.results.figures["replay_pg_us"] = 1e6 * pg / read
        self.results.figures["replay_client_us"] = 1e6 * used / read
        assert self.count(url) == distinct, "replay did not apply every event"
        return read / elapsed

    def run_naive(self) -> float:
        url = self.database()
        out = subprocess.run([PY, str(ROOT / "bench" / "naive.py"), self.bootstrap,
                              ",".join(self.topics.values()), url, str(self.args.naive_events)],
                             capture_output=True, text=True, check=True, cwd=ROOT)
        done, elapsed = out.stdout.split()
        return int(done) / float(elapsed)

    def run_quix(self, total: int) -> float | None:
        if self.args.skip_quix or not QUIX_PY.exists():
            self.results.notes.append("Quix Streams not measured in this run "
                                      "(bench/.venv-quix missing or --skip-quix).")
            return None
        url = self.database()
        db = url.rsplit("/", 1)[1]
        group = f"{self.prefix}.quix"
        proc = subprocess.Popen([str(QUIX_PY), str(ROOT / "bench" / "quix_job.py"),
                                 self.bootstrap, ",".join(self.topics.values()), group,
                                 "127.0.0.1", str(self.stack.postgres.port), db],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        first = None
        try:
            deadline = time.monotonic() + self.args.timeout
            while time.monotonic() < deadline:
                remaining = sum(p.lag for t in self.topics.values()
                                for p in group_lag({"bootstrap.servers": self.bootstrap},
                                                   group, t))
                now = time.perf_counter()
                if remaining < total and first is None:
                    first = (now, total - remaining)
                if remaining == 0 and first is not None:
                    return (total - first[1]) / max(now - first[0], 1e-9)
                time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(60)
        raise RuntimeError("Quix Streams did not finish in time")

    def run_latency(self, rates: tuple[int, ...]) -> dict[str, float]:
        """End-to-end latency at each offered rate, one after the other through one
        processor: p50/p99/p99.9 from the producer's send time to the start of the
        transaction that applied the event (``processed_events.processed_at``)."""
        topics = {s: f"{self.prefix}.lat.{s}" for s in PLURALS}
        self.make_topics(topics)
        url = self.database()
        proc = subprocess.Popen([PY, "-m", "streams.cli.main", "run"],
                                env=self.env(url, f"{self.prefix}.lat", topics),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        figures: dict[str, float] = {"latency_seconds": self.args.latency_seconds}
        try:
            time.sleep(8)  # let the worker join its group
            producer = EventProducer({"bootstrap.servers": self.bootstrap}, **{"linger.ms": 1})
            applied = 0
            for n, rate in enumerate(rates):
                messages, _ = workload(int(rate * self.args.latency_seconds), seed=7 + n)
                unique = {m.event_id: m for m in messages}
                sent = self._offer(producer, unique, rate, topics)
                applied += len(unique)
                deadline = time.monotonic() + 120
                while self.count(url) < applied and time.monotonic() < deadline:
                    time.sleep(0.25)
                with psycopg.connect(url) as conn:
                    rows = conn.execute("SELECT event_id, extract(epoch FROM processed_at) "
                                        "FROM processed_events WHERE event_id = ANY(%s)",
                                        (list(sent),)).fetchall()
                latencies = sorted((float(at) - sent[eid]) * 1000 for eid, at in rows)
                figures.update({f"latency_{rate}_{k}": v
                                for k, v in _percentiles(latencies).items()})
                figures[f"latency_{rate}_events"] = float(len(latencies))
                figures[f"latency_{rate}_missing"] = float(len(sent) - len(latencies))
        finally:
            proc.terminate()
            proc.wait(60)
            delete_topics(self.bootstrap, [*topics.values(), *(f"{t}.dlq"
                                                               for t in topics.values())])
        return figures

    def _offer(self, producer: EventProducer, unique: dict[uuid.UUID, Encoded], rate: float,
               topics: dict[str, str]) -> dict[uuid.UUID, float]:
        """Produce *unique* at *rate* events/s; the wall-clock send time of each."""
        sent: dict[uuid.UUID, float] = {}
        started = time.time()
        for i, m in enumerate(unique.values()):
            pause = started + i / rate - time.time()
            if pause > 0:
                time.sleep(pause)
            sent[m.event_id] = time.time()
            producer.produce(self.topic_of(m.schema, topics), key=m.key, value=m.value)
        producer.flush()
        return sent

    def drop_databases(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.databases:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                             .format(sql.Identifier(name)))
        self.databases.clear()

    def cleanup(self) -> None:
        self.drop_databases()
        inputs = [*self.topics.values(), *(f"{t}.refused" for t in self.topics.values())]
        names = [*inputs, *(f"{t}.dlq" for t in inputs),
                 *(f"{self.prefix}.state.{s}.v1" for s in PLURALS)]
        delete_topics(self.bootstrap, names)


def _percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50": float("nan"), "p99": float("nan"), "p999": float("nan"),
                "mean": float("nan")}

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {"p50": pct(0.50), "p99": pct(0.99), "p999": pct(0.999),
            "mean": statistics.fmean(latencies)}


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    with psycopg.connect(LocalStack(stack_settings()).postgres.url()) as c:
        pg = c.execute("SHOW server_version").fetchone()
    return {"cpu": cpu, "cores": str(psutil.cpu_count()), "memory_gib":
            f"{psutil.virtual_memory().total / 2**30:.0f}", "python": platform.python_version(),
            "kafka": KAFKA_VERSION, "postgresql": str(pg[0]) if pg else "?",
            "os": platform.platform()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--naive-events", type=int, default=20_000)
    parser.add_argument("--latency-rates", default=",".join(map(str, LATENCY_RATES)),
                        help="Offered rates of the latency curve, events/s, comma-separated.")
    parser.add_argument("--latency-seconds", type=float, default=20,
                        help="How long each rate of the latency curve is offered.")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--skip-quix", action="store_true")
    parser.add_argument("--smoke", action="store_true",
                        help="A few seconds: tiny sizes, no Quix, output to a temp folder.")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    if args.smoke:
        args.events, args.naive_events, args.skip_quix = 3000, 300, True
        args.latency_rates, args.latency_seconds = "200,1000", 2
        args.output = Path(os.environ.get("TMPDIR", "/tmp")) / "BENCHMARKS-smoke.md"
    started = datetime.now(UTC)
    bench = Bench(args)
    r = bench.results
    r.machine = machine()
    try:
        bench.make_topics(bench.topics)
        t = time.perf_counter()
        messages, distinct = workload(args.events)
        r.figures["generate_seconds"] = time.perf_counter() - t
        r.figures["produce_seconds"] = bench.produce(messages, bench.topics)
        r.figures["events"], r.figures["distinct"] = len(messages), distinct
        r.figures["limit"] = bench.run_limit(messages)
        r.figures["limit_no_chain"] = bench.run_limit(messages, chain=False)
        r.figures["processor_1"], r.figures["rss_1_mib"] = bench.run_processors(1, distinct)
        r.figures["processor_2"], r.figures["rss_2_mib"] = bench.run_processors(2, distinct)
        r.figures["replay"] = bench.run_replay(distinct)
        r.figures["replay_refused_1pct"] = bench.run_refused(messages)
        r.figures["naive"] = bench.run_naive()
        quix = bench.run_quix(len(messages))
        if quix is not None:
            r.figures["quix"] = quix
        rates = tuple(int(x) for x in args.latency_rates.split(","))
        r.figures.update(bench.run_latency(rates))
    finally:
        bench.cleanup()
    from bench.report import write_report

    arguments = " ".join(sys.argv[1:])
    write_report(r.machine, r.figures, r.notes, args.output, started=started,
                 command=f"bench/run.py {arguments}".strip() if arguments else "make bench")
    print(json.dumps(r.figures, indent=2))


if __name__ == "__main__":
    main()
