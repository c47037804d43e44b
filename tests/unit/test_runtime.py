"""The process tuning of the long-running commands (streams.runtime)."""

from __future__ import annotations

import gc

from streams.runtime import YOUNG_THRESHOLD, tune_garbage_collector


def test_young_collections_are_rarer_and_the_older_thresholds_kept() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        tune_garbage_collector()
        tune_garbage_collector()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
        assert gc.isenabled()
    finally:
        gc.set_threshold(*before)
