"""The one retry policy of the clients that talk to other services (the LLM endpoint, the
sandbox service): how many tries, and how long to wait between them.

Vocabulary: `max_attempts` counts every try, the first included; the wait before try k + 1 is
drawn uniformly from [0, min(max_backoff_seconds, backoff_seconds * 2**k)] (full jitter), and
never shorter than the server's Retry-After (capped at max_retry_after_seconds).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 300.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before try `attempt + 1` (full jitter; at least Retry-After)."""
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2**attempt)
        wait = rng.uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after_seconds))
        return wait


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
