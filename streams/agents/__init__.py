"""faust-streaming agents: the live processing runtime (faust is imported only here)."""

from __future__ import annotations

from streams.agents.worker import run_worker

__all__ = ["run_worker"]
