"""Upstream adapters that turn EMR activity into domain events."""

from __future__ import annotations
