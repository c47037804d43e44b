"""The audit hash chain behind the real processor: one gapless chain per partition."""

from __future__ import annotations

import psycopg
import pytest

from streams.audit import verify_chains
from streams.config import Settings
from tests.fixtures.processor import ProcessorFactory, wait_for
from tests.integration.helpers import count, produce, synthetic

pytestmark = pytest.mark.integration


def test_processed_events_form_one_verified_chain_per_partition(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    events = synthetic(400, seed=21)
    produce(emr_settings, events)
    processor = processor_factory.start()
    url = emr_settings.database_url
    wait_for(lambda: count(url, "processed_events") == len(events), timeout=90,
             what="every event applied", on_timeout=processor.output)
    assert processor.stop() == 0, processor.output()

    topic = emr_settings.kafka.tasks_topic
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT chain_key, chain_seq, \"offset\" FROM audit_logs "
                            "ORDER BY chain_key, chain_seq").fetchall()
    chains: dict[str, list[tuple[int, int]]] = {}
    for key, seq, offset in rows:
        chains.setdefault(str(key), []).append((int(str(seq)), int(str(offset))))
    assert set(chains) <= {f"{topic}:{p}" for p in range(3)} and len(chains) > 1
    for links in chains.values():
        assert [s for s, _ in links] == list(range(1, len(links) + 1))
        assert [o for _, o in links] == sorted(o for _, o in links)  # chain follows offsets
    assert sum(len(v) for v in chains.values()) == len(events)
    report = verify_chains(url)
    assert report.intact and report.rows_checked == len(events)
