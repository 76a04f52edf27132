"""Sign-in throttling: failures are counted per account and per client address in a sliding window; past a limit
the next attempts get 429 with Retry-After until the oldest counted failure leaves the window.

Kept in the process's memory: one service process (the default) sees every attempt. Several API processes behind a
balancer each count their own (the limits then hold per process).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from inference.errors import CropwatchError


class RateLimited(CropwatchError):
    """Too many attempts; try again after `retry_after_s` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class FailureThrottle:
    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures[key]
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def check(self, limits: dict[str, int]) -> None:
        """RateLimited if any key has reached its limit of failures within the window."""
        now = time.monotonic()
        with self._lock:
            for key, limit in limits.items():
                q = self._recent(key, now)
                if len(q) >= limit:
                    wait = max(1, int(q[len(q) - limit] + self.window_s - now + 0.999))
                    raise RateLimited(f"too many failed sign-ins; try again in {wait} s", wait)

    def fail(self, keys: list[str]) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
