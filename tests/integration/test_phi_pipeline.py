"""PHI end to end: the SDK seals, the real processor stores it sealed (or opens it when told),
and a record sealed under a key the sink does not have is dead-lettered, not retried."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer

from streams.config import PhiSettings, Settings
from streams.contracts.identity import identity_id
from streams.contracts.models import AnyEvent
from streams.phi import PhiDecryptError, PhiSealer, StaticKeyring
from streams.phi.envelope import is_sealed, open_token
from streams.phi.fields import patient_binding
from streams.phi.keyring import new_keyring
from streams.sdk import EventPublisher
from streams.sink import apply_batch
from streams.topology import state_topic
from tests.fixtures.processor import ProcessorFactory, wait_for
from tests.integration.helpers import CODEC, count, dead_letters, records, synthetic
from tests.unit.events_fixtures import PATIENT, every_event
from tests.unit.phi_values import phi_values

pytestmark = pytest.mark.integration


@pytest.fixture
def keyring_file(tmp_path: Path) -> Path:
    path = tmp_path / "keyring.json"
    path.write_text(json.dumps(new_keyring("2026-11")))
    return path


def _events() -> list[AnyEvent]:
    return [*synthetic(40, seed=5), *every_event()]


def _publish(settings: Settings, keyring: Path, events: list[AnyEvent]) -> None:
    sealing = settings.model_copy(update={"phi": PhiSettings(keys_file=keyring)})
    with EventPublisher(sealing, node="phi-test", source_system="EPIC") as publisher:
        for event in events:
            publisher.publish(event)


def _read_all(settings: Settings, topic: str) -> dict[str, dict[str, object]]:
    """The latest state per key on *topic* (read until it has been quiet for 3 s)."""
    consumer = Consumer({**settings.librdkafka(), "group.id": f"phi-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    latest: dict[str, dict[str, object]] = {}
    quiet = 0
    try:
        while quiet < 6:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                quiet += 1
                continue
            quiet = 0
            latest[(message.key() or b"").decode()] = json.loads(message.value() or b"{}")
    finally:
        consumer.close()
    return latest


def _database_text(url: str) -> str:
    """Every row of every table of the public schema, as text."""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
        dump = []
        for table in tables:
            rows = conn.execute(f'SELECT t::text FROM "{table}" t').fetchall()  # type: ignore[arg-type]
            dump.extend(r[0] for r in rows)
    return "\n".join(dump)


def test_phi_is_sealed_by_the_sdk_and_stored_sealed(
        emr_settings: Settings, processor_factory: ProcessorFactory,
        keyring_file: Path) -> None:
    events = _events()
    planted = set().union(*(phi_values(e) for e in events))
    assert {"MRN0042TEST", "Jane", "1961-02-03"} <= planted
    _publish(emr_settings, keyring_file, events)
    # Every log line, DEBUG included, is checked (here and by tests/fixtures/phi_watch.py).
    processor_factory.extra_env["EMR_STREAMS_PROCESSOR_LOG_LEVEL"] = "debug"
    processor = processor_factory.start()
    url = emr_settings.database_url
    wait_for(lambda: count(url, "processed_events") == len(events), timeout=90,
             what="every event applied", on_timeout=processor.output)
    status, metrics = processor.http("/metrics")
    assert status == 200 and "emr_streams_events_total" in metrics
    assert processor.stop() == 0, processor.output()

    # No planted value anywhere in the database, the processor's log or its metrics.
    text = _database_text(url)
    log = processor.output()
    for value in planted:
        assert value not in text, "PHI stored in clear"
        assert value not in log, "PHI in the processor log"
        assert value not in metrics, "PHI in the metrics"

    keyring = StaticKeyring.from_file(keyring_file)
    with psycopg.connect(url) as conn:
        # Stored under the id of what the event carries: the MRN's blind index.
        patient_id = identity_id("patient", keyring.blind_index(PATIENT.mrn))
        row = conn.execute("SELECT mrn, first_name, last_name, date_of_birth, encrypted_data "
                           "FROM patients WHERE id = %s", (patient_id,)).fetchone()
        description = conn.execute("SELECT description FROM tasks WHERE id = %s",
                                   (every_event()[0].aggregate_id,)).fetchone()
    assert row is not None and description is not None
    mrn, first, last, dob, encrypted = row
    assert mrn == keyring.blind_index(PATIENT.mrn) and (first, last, dob) == (None, None, None)
    # A stored token opens with its row: the patient's mrn column, the task's id.
    sealed = json.loads(open_token(keyring, encrypted["sealed_phi"], "PatientSnapshot",
                                   patient_binding(mrn)))
    assert sealed == {"mrn": "MRN0042TEST", "first_name": "Jane", "last_name": "Doe",
                      "date_of_birth": "1961-02-03"}
    assert is_sealed(description[0])
    opened = open_token(keyring, description[0], "TaskCreated.description",
                        f"task:{every_event()[0].aggregate_id}").decode()
    assert opened == every_event()[0].payload.description  # type: ignore[union-attr]


def test_open_in_sink_stores_plain_text_and_dead_letters_a_foreign_key(
        emr_settings: Settings, processor_factory: ProcessorFactory, keyring_file: Path,
        tmp_path: Path) -> None:
    events = _events()
    _publish(emr_settings, keyring_file, events)
    # One more task, sealed under a keyring the sink does not hold.
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps(new_keyring("elsewhere")))
    stray = synthetic(1, seed=77)
    _publish(emr_settings, foreign, stray)

    processor_factory.extra_env.update({"EMR_STREAMS_PHI_KEYS_FILE": str(keyring_file),
                                        "EMR_STREAMS_PHI_OPEN_IN_SINK": "true"})
    processor = processor_factory.start()
    url = emr_settings.database_url
    wait_for(lambda: count(url, "processed_events") == len(events), timeout=90,
             what="every event applied", on_timeout=processor.output)
    letters = [dict(m.headers() or []) for m in dead_letters(emr_settings, 1)]
    wait_for(lambda: count(url, "state_outbox") == 0, timeout=60, what="states relayed",
             on_timeout=processor.output)
    assert processor.http("/healthz")[0] == 200, processor.output()
    assert processor.stop() == 0, processor.output()

    assert len(letters) == 1
    assert letters[0]["emr.dlq.stage"] == b"decrypt"
    assert b"unknown PHI key id 'elsewhere'" in letters[0]["emr.dlq.reason"]
    assert count(url, "processed_events") == len(events)  # the stray one is not claimed
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT mrn, first_name, last_name, date_of_birth FROM patients "
                           "WHERE id = %s", (identity_id("patient", PATIENT.mrn),)).fetchone()
        description = conn.execute("SELECT description FROM tasks WHERE id = %s",
                                   (events[-13].aggregate_id,)).fetchone()
        conflict_text = "\n".join(r[0] for r in conn.execute(
            "SELECT c::text FROM conflicts c").fetchall())
    assert row == (PATIENT.mrn, PATIENT.first_name, PATIENT.last_name, PATIENT.date_of_birth)
    assert PhiSealer.for_sink(emr_settings) is None  # the test process itself stays sealed
    # Opened PHI stays in the database: the state topic carries null in its place.
    assert description is not None and description[0] == every_event()[0].payload.description  # type: ignore[union-attr]
    states = _read_all(emr_settings, state_topic(emr_settings, "task"))
    assert str(events[-13].aggregate_id) in states
    assert states[str(events[-13].aggregate_id)]["description"] is None
    published = json.dumps(list(states.values())) + conflict_text
    for event in events:
        for value in phi_values(event):
            assert value not in published, "plain-text PHI left the database"


def test_reseal_rewrites_stored_enc1_tokens_bound_to_their_rows(
        db: psycopg.Connection[tuple[object, ...]], database_url: str, keyring_file: Path
        ) -> None:
    from tests.unit.test_phi import _legacy_token

    keyring = StaticKeyring.from_file(keyring_file)
    events = every_event()
    apply_batch(db, records(events), codec=CODEC)  # plain rows, then made ENC1 below
    task_id = events[0].aggregate_id
    index = keyring.blind_index(PATIENT.mrn)
    patient_id = identity_id("patient", PATIENT.mrn)
    db.execute("UPDATE patients SET mrn = %s, encrypted_data = jsonb_build_object('v', 1, "
               "'sealed_phi', %s::text) WHERE id = %s",
               (index, _legacy_token(keyring, b'{"mrn":"x"}', "PatientSnapshot"), patient_id))
    db.execute("UPDATE tasks SET description = %s WHERE id = %s",
               (_legacy_token(keyring, b"BP twice hourly", "TaskUpdated.description"), task_id))
    env = {"EMR_STREAMS_POSTGRES_URL": database_url,
           "EMR_STREAMS_PHI_KEYS_FILE": str(keyring_file)}
    dry = subprocess.run([sys.executable, "-m", "streams.cli.main", "phi", "reseal",
                          "--dry-run", "--json"], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=120, check=False)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["resealed"] == {
        "tasks": 1, "handovers": 0, "emr_verifications": 0, "patients": 1}
    for _ in range(2):  # the second run finds nothing left to do
        done = subprocess.run([sys.executable, "-m", "streams.cli.main", "phi", "reseal",
                               "--json"], capture_output=True, text=True,
                              env={**os.environ, **env}, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["found"] == {
        "tasks": 0, "handovers": 0, "emr_verifications": 0, "patients": 0}
    row = db.execute("SELECT t.description, p.encrypted_data ->> 'sealed_phi' FROM tasks t, "
                     "patients p WHERE t.id = %s AND p.id = %s", (task_id, patient_id)
                     ).fetchone()
    assert row is not None and str(row[0]).startswith("ENC2.")
    assert open_token(keyring, str(row[0]), "TaskUpdated.description",
                      f"task:{task_id}") == b"BP twice hourly"
    assert open_token(keyring, str(row[1]), "PatientSnapshot",
                      patient_binding(index)) == b'{"mrn":"x"}'
    with pytest.raises(PhiDecryptError):  # bound: not another task's
        open_token(keyring, str(row[0]), "TaskUpdated.description", f"task:{uuid.uuid4()}")


def test_a_token_moved_to_another_task_is_dead_lettered_at_decrypt(
        db: psycopg.Connection[tuple[object, ...]], keyring_file: Path) -> None:
    """Finding 2 of the review: Ann's sealed description placed in Carl's task opened and
    was stored as Carl's. Now the sink (opening PHI) refuses it at stage decrypt."""
    sealer = PhiSealer(StaticKeyring.from_file(keyring_file))
    ann = sealer.seal(every_event()[0])
    carl = sealer.seal(every_event()[0].model_copy(update={
        "event_id": uuid.uuid4(), "aggregate_id": uuid.uuid4()}))
    moved = carl.model_copy(update={"payload": ann.payload})
    outcome = apply_batch(db, records([ann, moved]), codec=CODEC, phi=sealer)
    assert outcome.applied == 1 and [p.stage for p in outcome.poison] == ["decrypt"]
    assert "another field, record or patient" in outcome.poison[0].reason
    assert db.execute("SELECT count(*) FROM tasks WHERE id = %s",
                      (carl.aggregate_id,)).fetchone() == (0,)
