"""Field-level PHI encryption: sealing, opening, key rotation, wrong keys, blind index."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from streams.config import PhiSettings, Settings
from streams.contracts.models import TaskCancelled, TaskEvent
from streams.errors import ConfigError
from streams.phi import PhiDecryptError, PhiKeyError, PhiSealer, StaticKeyring
from streams.phi.envelope import MessageKey, is_sealed, open_token
from streams.phi.keyring import new_keyring
from tests.integration.helpers import CODEC
from tests.unit.events_fixtures import every_event
from tests.unit.phi_values import phi_values

KEYRING = new_keyring("k1")
#: A sealed token as bytes (streams.phi.envelope's token shape).
TOKEN_BYTES = re.compile(
    rb"ENC[12]\.[^.\s]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}")
SEALER = PhiSealer(StaticKeyring.from_json(json.dumps(KEYRING)))


@pytest.mark.parametrize("event", every_event(), ids=lambda e: e.event_type)
def test_sealed_events_carry_no_phi_and_open_to_the_original(event: TaskEvent) -> None:
    planted = phi_values(event)
    sealed = SEALER.seal(event)
    if not planted:  # e.g. a handover accepted: nothing to seal, nothing changes
        assert sealed == event
    data = CODEC.encode(sealed.schema_name, sealed.to_avro())
    # Tokens are random base64: a three-letter name ("Doe") turns up inside one by chance
    # about once in a thousand events. The plaintext must be nowhere outside them.
    outside_tokens = TOKEN_BYTES.sub(b"", data)
    assert len(outside_tokens) < len(data) or not planted
    for value in planted:
        assert value.encode() not in outside_tokens
    assert SEALER.open(sealed) == event
    # Idempotent both ways.
    assert SEALER.seal(sealed) == sealed and SEALER.open(event) == event


def test_patient_phi_moves_into_sealed_phi_and_mrn_becomes_a_blind_index() -> None:
    event = every_event()[0]
    patient = SEALER.seal(event).task.patient  # type: ignore[attr-defined]
    assert (patient.first_name, patient.last_name, patient.date_of_birth) == (None, None, None)
    assert is_sealed(patient.sealed_phi)
    assert re.fullmatch(r"[A-Z2-7]{20}", patient.mrn)  # passes the MRN format rule
    # Deterministic per MRN (rows of one patient match), keyed (another key, another index).
    again = SEALER.seal(event).task.patient  # type: ignore[attr-defined]
    assert again.mrn == patient.mrn and again.sealed_phi != patient.sealed_phi
    other = PhiSealer(StaticKeyring.from_json(json.dumps(new_keyring("k1"))))
    assert other.seal(event).task.patient.mrn != patient.mrn  # type: ignore[attr-defined]


def test_rotation_new_writes_use_the_new_key_and_old_tokens_still_open() -> None:
    old_event = SEALER.seal(every_event()[0])
    rotated_doc = new_keyring("k2", KEYRING)
    rotated = PhiSealer(StaticKeyring.from_json(json.dumps(rotated_doc)))
    new_event = rotated.seal(every_event()[0])
    assert new_event.task.patient.sealed_phi.startswith("ENC2.k2.")  # type: ignore[attr-defined]
    assert old_event.task.patient.sealed_phi.startswith("ENC2.k1.")  # type: ignore[attr-defined]
    assert rotated.open(old_event) == every_event()[0]
    # The blind index key is kept through rotation.
    assert new_event.task.patient.mrn == old_event.task.patient.mrn  # type: ignore[attr-defined]
    # Pinning the active id by setting picks the old key again.
    pinned = StaticKeyring.from_json(json.dumps(rotated_doc), active="k1")
    assert pinned.active_key_id == "k1"


def test_a_missing_key_id_and_a_wrong_key_are_distinct_clear_errors() -> None:
    sealed = SEALER.seal(every_event()[0])
    stranger = PhiSealer(StaticKeyring.from_json(json.dumps(new_keyring("k9"))))
    with pytest.raises(PhiKeyError, match="unknown PHI key id 'k1'"):
        stranger.open(sealed)
    impostor_doc = new_keyring("k1")  # same id, different key material
    with pytest.raises(PhiDecryptError, match="does not unwrap with key 'k1'"):
        PhiSealer(StaticKeyring.from_json(json.dumps(impostor_doc))).open(sealed)


def test_tampered_or_moved_tokens_do_not_open() -> None:
    event = every_event()[5]
    sealed = SEALER.seal(event)
    assert isinstance(sealed.payload, TaskCancelled)
    token = sealed.payload.reason
    head, tail = token.rsplit(".", 1)
    flipped = head + "." + ("A" if tail[0] != "A" else "B") + tail[1:]
    tampered = sealed.model_copy(update={"payload": sealed.payload.model_copy(
        update={"reason": flipped})})
    with pytest.raises(PhiDecryptError, match="does not authenticate"):
        SEALER.open(tampered)
    # The patient token moved into the free-text field: bound to another path.
    moved = sealed.model_copy(update={"payload": sealed.payload.model_copy(
        update={"reason": sealed.task.patient.sealed_phi})})
    with pytest.raises(PhiDecryptError, match=r"TaskCancelled\.reason"):
        SEALER.open(moved)
    truncated = sealed.model_copy(update={"payload": sealed.payload.model_copy(
        update={"reason": "ENC1.k1.abc"})})
    with pytest.raises(PhiDecryptError, match="malformed"):
        SEALER.open(truncated)


@pytest.mark.parametrize(("doc", "message"), [
    ("not json", "not valid JSON"),
    ({"keys": {"k1": "c2hvcnQ="}, "active": "k1", "index_key": "x" * 44}, "must be 32 bytes"),
    ({"keys": {}, "active": "k1", "index_key": "x" * 44}, "active key 'k1' is not"),
    ({"keys": {"bad id": "A" * 44}, "active": "bad id", "index_key": "A" * 44}, "key ids"),
    ({"keys": {"k1": "A" * 43 + "="}, "active": "k1"}, "index_key"),
])
def test_keyring_errors_are_clear_and_never_echo_key_material(doc: object,
                                                               message: str) -> None:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(PhiKeyError, match=message) as info:
        StaticKeyring.from_json(text)
    assert "A" * 20 not in str(info.value) and "c2hvcnQ" not in str(info.value)


def test_settings_keyring_file_and_sink_opener(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text(json.dumps(KEYRING))
    settings = Settings(phi=PhiSettings(keys_file=path))
    sealer = PhiSealer.from_settings(settings)
    assert sealer is not None and sealer.provider.active_key_id == "k1"
    assert PhiSealer.for_sink(settings) is None  # stored sealed by default
    assert PhiSealer.from_settings(Settings(phi=PhiSettings())) is None
    with pytest.raises(ConfigError, match="no keyring"):
        PhiSealer.for_sink(Settings(phi=PhiSettings(open_in_sink=True)))
    with pytest.raises(PhiKeyError, match="keyring file"):
        PhiSealer.from_settings(Settings(phi=PhiSettings(keys_file=tmp_path / "missing")))
    assert "k1" in repr(sealer.provider) and KEYRING["keys"]["k1"] not in repr(sealer.provider)


def test_the_cli_creates_a_keyring_and_rotates_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from streams.cli.main import app

    path = tmp_path / "keyring.json"
    runner = CliRunner()
    first = runner.invoke(app, ["phi", "add-key", str(path), "--key-id", "2026-10"])
    assert first.exit_code == 0, first.output
    assert path.stat().st_mode & 0o777 == 0o600
    before = PhiSealer(StaticKeyring.from_file(path)).seal(every_event()[0])
    second = runner.invoke(app, ["phi", "add-key", str(path), "--key-id", "2026-11"])
    assert second.exit_code == 0 and "active key 2026-11 (2 key(s)" in second.output
    rotated = PhiSealer(StaticKeyring.from_file(path))
    assert rotated.provider.active_key_id == "2026-11"
    assert rotated.open(before) == every_event()[0]
    again = runner.invoke(app, ["phi", "add-key", str(path), "--key-id", "2026-11"])
    assert again.exit_code == 1 and "already in the keyring" in again.output


def test_every_stored_phi_field_is_a_phi_column_of_its_aggregate() -> None:
    """The columns whose plain text never leaves the database (state topics, conflicts)
    are exactly the stored fields the schemas mark phi."""
    from streams.contracts.catalogue import SchemaCatalogue, phi_paths
    from streams.contracts.models import MODEL_VERSIONS
    from streams.sink.aggregates import spec_for

    catalogue = SchemaCatalogue()
    for name, version in MODEL_VERSIONS.items():
        spec = spec_for(name)
        raw = next(v.raw for v in catalogue.versions(name) if v.version == version)
        columns = {c.name for c in spec.table.values}
        stored = {path.split(".")[1] for path in phi_paths(raw)
                  if not path.startswith("PatientSnapshot.")} & columns
        assert stored == set(spec.phi_values), name


def test_only_the_shape_of_a_token_passes_as_sealed() -> None:
    from streams.phi.envelope import MessageKey, has_token_shape

    keyring = StaticKeyring.from_json(json.dumps(new_keyring("2026-11")))
    token = MessageKey.new(keyring).seal(b"BP twice hourly", "TaskCreated.description",
                                         "task:1")
    assert has_token_shape(token)
    for fake in ("ENC1. patient is HIV positive", "ENC1.k.w.n.c", token + " note", "", None,
                 token.replace(".", " ", 1)):
        assert not has_token_shape(fake), fake


def test_the_cli_writes_keyrings_safely_and_reports_a_bad_one_in_one_line(
        tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from streams.cli.main import app

    runner = CliRunner()
    path = tmp_path / "keyring.json"
    # A file planted where a fixed temporary name would be written is never followed.
    victim = tmp_path / "victim.txt"
    victim.write_text("do not touch")
    (tmp_path / "keyring.json.tmp").symlink_to(victim)
    created = runner.invoke(app, ["phi", "add-key", str(path), "--key-id", "2026-10"])
    assert created.exit_code == 0, created.output
    assert victim.read_text() == "do not touch"
    assert path.stat().st_mode & 0o777 == 0o600 and not path.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "keyring.json", "keyring.json.tmp", "victim.txt"]  # no temporary file left
    for bad in ("{not json", '{"keys": {"k": 42}}', '["a list"]', "\udcff"):
        path.write_text(bad, errors="surrogateescape")
        result = runner.invoke(app, ["phi", "add-key", str(path), "--key-id", "2026-11"])
        assert result.exit_code == 1, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and "keyring" in lines[0], result.output
        assert "Traceback" not in result.output
        assert path.read_text(errors="surrogateescape") == bad  # left as it was


def _legacy_token(keyring: StaticKeyring, plaintext: bytes, path: str) -> str:
    """An ENC1 token as the earlier SDK wrote it: associated data = the path alone."""
    import base64
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    def enc(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    data_key = AESGCM.generate_key(bit_length=256)
    key_id, wrapped = keyring.wrap(data_key)
    nonce = os.urandom(12)
    sealed = AESGCM(data_key).encrypt(nonce, plaintext, path.encode())
    return ".".join(("ENC1", key_id, enc(wrapped), enc(nonce), enc(sealed)))


def test_a_value_moved_to_another_task_or_patient_does_not_open() -> None:
    """ENC2 binds free text to its aggregate and a patient's PHI to the patient: Ann's
    sealed description or sealed PHI placed in Carl's task or snapshot is refused."""
    ann, carl = every_event()[0], every_event()[0].model_copy(update={
        "aggregate_id": uuid.UUID(int=9999, version=4),
        "task": every_event()[0].task.model_copy(update={  # type: ignore[union-attr]
            "patient": every_event()[0].task.patient.model_copy(  # type: ignore[union-attr]
                update={"mrn": "MRN0099CARL"})})})
    sealed_ann, sealed_carl = SEALER.seal(ann), SEALER.seal(carl)
    assert SEALER.open(sealed_ann) == ann and SEALER.open(sealed_carl) == carl
    moved_text = sealed_carl.model_copy(update={"payload": sealed_ann.payload})
    with pytest.raises(PhiDecryptError, match="sealed for another field, record or patient"):
        SEALER.open(moved_text)
    moved_phi = sealed_carl.model_copy(update={"task": sealed_carl.task.model_copy(  # type: ignore[union-attr]
        update={"patient": sealed_carl.task.patient.model_copy(  # type: ignore[union-attr]
            update={"sealed_phi": sealed_ann.task.patient.sealed_phi})})})  # type: ignore[union-attr]
    with pytest.raises(PhiDecryptError, match="sealed for another field, record or patient"):
        SEALER.open(moved_phi)


def test_legacy_tokens_still_open_and_new_ones_need_their_record() -> None:
    keyring = StaticKeyring.from_json(json.dumps(KEYRING))
    legacy = _legacy_token(keyring, b"BP twice hourly", "TaskCreated.description")
    assert open_token(keyring, legacy, "TaskCreated.description") == b"BP twice hourly"
    assert open_token(keyring, legacy, "TaskCreated.description", "task:x") == (
        b"BP twice hourly")  # ENC1 ignores the binding
    event = every_event()[0]
    old = event.model_copy(update={"payload": event.payload.model_copy(  # type: ignore[union-attr]
        update={"description": legacy})})
    assert SEALER.open(old) == event  # an ENC1 event still opens in the sink
    current = MessageKey.new(keyring).seal(b"x", "TaskCreated.description", "task:1")
    with pytest.raises(PhiDecryptError, match="only with its record"):
        open_token(keyring, current, "TaskCreated.description")
