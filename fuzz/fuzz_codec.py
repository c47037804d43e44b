"""Coverage-guided fuzzing of the decode path with atheris (libFuzzer), run by hand.

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python fuzz/fuzz_codec.py -max_total_time=300 -rss_limit_mb=1024 fuzz/corpus

Each input is a message value: it must decode into an event or raise a DecodeError. Any
other exception, a hang (-timeout, default 1200 s per input; pass -timeout=5) or more
memory than -rss_limit_mb is a finding; libFuzzer writes the input to crash-<sha1>.
The seed corpus is one golden message of every event type (written on first run).
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from streams.contracts import AvroCodec, DecodeError, SchemaCatalogue
    from streams.contracts.models import event_from_avro

CODEC = AvroCodec(SchemaCatalogue())


def _seed(corpus: Path) -> None:
    """One golden message of every event type, so the fuzzer starts past the framing."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.unit.events_fixtures import every_event

    corpus.mkdir(parents=True, exist_ok=True)
    for event in every_event():
        (corpus / f"{event.event_type.lower()}.bin").write_bytes(
            CODEC.encode(event.schema_name, event.to_avro()))


def test_one_input(data: bytes) -> None:
    try:
        decoded = CODEC.decode(data)
        event_from_avro(decoded.schema, decoded.record)
    except DecodeError:
        pass


def main() -> None:
    dirs = [Path(a) for a in sys.argv[1:] if not a.startswith("-")]
    for corpus in dirs[:1]:
        if not corpus.exists() or not any(corpus.iterdir()):
            _seed(corpus)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
