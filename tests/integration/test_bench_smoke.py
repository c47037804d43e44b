"""The benchmark's code paths in seconds (the full run is `make bench`, never in CI)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.services import Services

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_bench_smoke_writes_a_report(services: Services, tmp_path: Path) -> None:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("the benchmark runs on the local stack only")
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke"],
                            capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env={**os.environ, "TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    report = (tmp_path / "BENCHMARKS-smoke.md").read_text()
    for heading in ("## Throughput", "## Ratios and targets", "## Where the time goes",
                    "## Latency and memory"):
        assert heading in report
    for ratio in ("processor ÷ limit", "replay ÷ limit", "limit with chain ÷ without",
                  "1% refused ÷ clean (replay)", "processor ÷ naive"):
        assert f"| {ratio} |" in report
    assert "| 200 |" in report and "| 1,000 |" in report  # the latency curve's rates
    # The charts need the bench extra (matplotlib), which CI does not install: the report
    # shows them when they were drawn and links none otherwise.
    charted = importlib.util.find_spec("matplotlib") is not None
    for chart in ("throughput.png", "latency.png"):
        assert (tmp_path / chart).exists() is charted
        assert (f"]({chart})" in report) is charted
