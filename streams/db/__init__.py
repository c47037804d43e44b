"""PostgreSQL access: connection pools and the migration runner."""

from __future__ import annotations
