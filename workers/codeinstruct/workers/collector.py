"""The garbage collector's pace in a runner process.

Python collects its youngest generation every 700 allocations of container objects. An LLM stage
allocates hundreds per request (the HTTP client's request, response, futures and tasks, the
prompt, the parsed answer), and each 10th young collection scans the middle generation, each
100th the whole heap, which by then holds every record of the shards in progress: at ~950
requests/s that was a quarter of the runner's CPU (3 of its 11 s on 10,000 requests,
`bench/bench_pipeline.py`). Almost all of those objects are freed by reference counting long
before a collection would find them; the collector is only needed for cycles.
"""

from __future__ import annotations

import gc

# Young collections every 20,000 allocations: ~30 times fewer collections of every generation.
# A cycle of young objects lives at most that many allocations longer (kilobytes to a few MB).
YOUNG_THRESHOLD = 20_000


def pace_for_throughput() -> None:
    """Collect the youngest generation every `YOUNG_THRESHOLD` allocations (the older
    generations keep their own thresholds); a higher threshold, or a disabled collector
    (threshold 0), is left as it is."""
    young, *older = gc.get_threshold()
    if 0 < young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, *older)
