"""Keyed records land where Kafka's Java client puts them: murmur2, checked against the
Java implementation itself (kafka-clients from Maven Central, the broker's own jars)."""

from __future__ import annotations

import random
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from streams.config import Settings, StackSettings
from streams.devstack.kafka import KAFKA_VERSION
from streams.kafka.producer import EventProducer
from streams.kafka.reader import PartitionRange, RangeReader
from tests.fixtures.kafka import TopicFactory
from tests.fixtures.services import unavailable

pytestmark = pytest.mark.integration

_JAVA = """
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

public class Partitions {
    public static void main(String[] args) throws Exception {
        int partitions = Integer.parseInt(args[0]);
        BufferedReader in = new BufferedReader(
            new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            byte[] key = HexFormat.of().parseHex(line);
            System.out.println(BuiltInPartitioner.partitionForKey(key, partitions));
        }
    }
}
"""


def _java_partitions(keys: list[bytes], partitions: int, folder: Path) -> list[int]:
    libs = StackSettings().jar_cache.resolve() / f"kafka-{KAFKA_VERSION}" / "libs"
    java = shutil.which("java")
    if java is None or not (libs / f"kafka-clients-{KAFKA_VERSION}.jar").exists():
        unavailable(f"Java and kafka-clients {KAFKA_VERSION} (the local stack's jars)")
    source = folder / "Partitions.java"
    source.write_text(_JAVA)
    result = subprocess.run([str(java), "-cp", f"{libs}/*", str(source), str(partitions)],
                            input="\n".join(k.hex() for k in keys) + "\n", capture_output=True,
                            text=True, timeout=120, check=True)
    return [int(line) for line in result.stdout.split()]


def test_keys_land_on_the_partition_kafkas_java_client_chooses(
        emr_settings: Settings, topic_factory: TopicFactory, tmp_path: Path) -> None:
    partitions = 7
    topic = topic_factory(partitions=partitions)
    rng = random.Random(15)
    keys = ([str(uuid.UUID(int=rng.getrandbits(128), version=4)).encode() for _ in range(200)]
            + [rng.randbytes(rng.randint(1, 40)) for _ in range(50)]
            + [b"a", "é".encode(), b"\x00", b"\xff" * 64])
    expected = _java_partitions(keys, partitions, tmp_path)
    assert len(expected) == len(keys) and len(set(expected)) == partitions
    producer = EventProducer(emr_settings.librdkafka())
    for i, key in enumerate(keys):
        producer.produce(topic, key=key, value=str(i).encode())
    producer.flush()
    with RangeReader(emr_settings.librdkafka(), topic) as reader:
        ranges = [PartitionRange(p, *reader.watermarks(p)) for p in reader.partitions()]
        landed = {int(r.value or b"-1"): r.partition for batch in reader.read(ranges)
                  for r in batch}
    assert [landed[i] for i in range(len(keys))] == expected
