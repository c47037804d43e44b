"""The thin layer over confluent-kafka: admin, producer and offset look-ups."""

from __future__ import annotations
