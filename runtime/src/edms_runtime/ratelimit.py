"""Rate limits per identity on expensive routes (`[limits]` in policy/roles.toml): a token bucket per (person,
route) in each replica, refilled at the route's rate and holding twice as many. Over it: 429 problem details with
`Retry-After` (OWASP API4:2023, unrestricted resource consumption). Per replica, so N replicas allow N times as much:
a bound on what one person can make one process do, not a quota."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


@dataclass
class Buckets:
    #: Buckets kept at most; the oldest half is dropped beyond it (a bucket dropped only starts full again).
    capacity: int = 100_000
    _levels: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def take(self, who: str, route: str, rate: float, now: float | None = None) -> float:
        """0 when the request may go, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        burst = 2 * rate
        level, then = self._levels.get((who, route), (burst, now))
        level = min(burst, level + (now - then) * rate)
        if level < 1:
            self._levels[(who, route)] = (level, now)
            return (1 - level) / rate
        if len(self._levels) >= self.capacity:
            for key in list(self._levels)[: self.capacity // 2]:
                del self._levels[key]
        self._levels[(who, route)] = (level - 1, now)
        return 0.0


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
