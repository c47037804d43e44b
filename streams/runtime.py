"""Process-wide tuning of the long-running commands (the worker, replay into a database).

**The cyclic garbage collector.** Applying a batch allocates hundreds of short-lived
containers per event (decoded records, models, parameter lists), nearly all freed by
reference counting. With CPython's default thresholds (700, 10, 10) they still trigger a
young collection every 700 allocations and, often enough, a full one that walks every
object of the process: faust, the schemas, the models' validators. Measured on this
repository's 2-core machine, ``apply_batch`` of the benchmark's workload (20,000 events in
batches of 2,000, one run each on a fresh database): 1,510 events/s with the defaults,
1,948 with a young threshold of 50,000, 1,942 and 1,944 with ``gc.freeze()`` after startup
and a threshold of 50,000 or 20,000 (the freeze adds nothing, so the heap is not frozen);
peak RSS 158 MiB in all. The worker and replay through Kafka (the benchmark's 30,000
messages, defaults and tuned alternating, twice, in one run): the worker 1,002 and 1,124
events/s against 1,359 and 1,356 (1.28x), replay 1,320 and 1,281 against 1,572 and 1,460
(1.16x); peak RSS 230-235 MiB against 230-242 MiB. Cycles are still collected, in larger
and rarer passes.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "tune_garbage_collector"]

#: Allocations (net of frees) between two young collections; CPython's default is 700.
YOUNG_THRESHOLD = 20_000


def tune_garbage_collector() -> None:
    """Collect young objects less often (idempotent; the older generations keep their
    thresholds)."""
    young, older, oldest = gc.get_threshold()
    gc.set_threshold(max(YOUNG_THRESHOLD, young), older, oldest)
