"""The local development stack: a real Kafka broker (KRaft) and a real PostgreSQL server."""

from __future__ import annotations

from streams.devstack._stack import LocalStack, StackStatus
from streams.devstack.errors import StackError

__all__ = ["LocalStack", "StackError", "StackStatus"]
