"""Operator tooling: replay, dead letters, offsets and status (the CLI's library)."""

from __future__ import annotations
