"""emr-streams: an event-driven Kafka stream processor for hospital task management."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
