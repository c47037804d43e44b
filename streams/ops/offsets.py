"""The processor group's committed offsets: show them, reset them (when the group is idle)."""

from __future__ import annotations

from typing import Literal

from streams.config import Settings
from streams.errors import StreamsError
from streams.kafka.admin import active_members, set_group_offsets
from streams.kafka.offsets import PartitionLag, group_lag
from streams.kafka.reader import RangeReader
from streams.topology import input_topics

__all__ = ["GroupActiveError", "plan_reset", "reset_offsets", "show_offsets"]

ResetTo = Literal["earliest", "latest", "timestamp", "offset"]


class GroupActiveError(StreamsError):
    """The group has live members: resetting its offsets now would race them."""


def show_offsets(settings: Settings, topics: list[str] | None = None) -> list[PartitionLag]:
    """Committed offset, end offset and lag of every partition of the input topics."""
    lags: list[PartitionLag] = []
    for topic in topics or input_topics(settings):
        lags.extend(group_lag(settings.librdkafka(), settings.kafka.group_id, topic))
    return lags


def plan_reset(settings: Settings, topic: str, to: ResetTo, *,
               value: int | None = None) -> dict[int, int]:
    """The offset each partition of *topic* would get."""
    if to in {"timestamp", "offset"} and value is None:
        raise StreamsError(f"--to {to} needs a value")
    targets: dict[int, int] = {}
    with RangeReader(settings.librdkafka(), topic) as reader:
        for p in reader.partitions():
            low, high = reader.watermarks(p)
            if to == "earliest":
                targets[p] = low
            elif to == "latest":
                targets[p] = high
            elif to == "timestamp":
                assert value is not None
                targets[p] = reader.offset_for_time(p, value)
            else:
                assert value is not None
                targets[p] = min(max(value, low), high)
    return targets


def reset_offsets(settings: Settings, topic: str, targets: dict[int, int], *,
                  force: bool = False) -> None:
    """Commit *targets* for the processor's group; refused while it has members."""
    members = active_members(settings.bootstrap_servers, settings.kafka.group_id,
                             client_config=settings.librdkafka())
    if members and not force:
        raise GroupActiveError(
            f"group {settings.kafka.group_id} has {members} active member(s): stop the "
            "processors first (or --force, if you know they are gone)")
    set_group_offsets(settings.bootstrap_servers, settings.kafka.group_id, topic, targets,
                      client_config=settings.librdkafka())
