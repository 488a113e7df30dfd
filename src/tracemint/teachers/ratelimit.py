"""Client-side pacing for HTTP teachers: an AIMD concurrency limit and token buckets.

Why AIMD: a server's real capacity is unknown and changes (other tenants, autoscaling), and
its only signal is a 429. Halving on overload and creeping back up by one converges on the
capacity the way TCP congestion control does, without a knob per deployment.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class AdaptiveLimiter:
    """A semaphore whose size shrinks on overload and grows back with success.

    ``acquire`` returns the *epoch* (how many decreases had happened when the slot was
    granted). Pass it back to ``on_overload`` so a burst of 429s from requests that were all
    sent under the old limit halves the limit once, not once per request.
    """

    def __init__(self, max_limit: int, increase_every: int = 8) -> None:
        if max_limit < 1:
            raise ValueError("max_limit must be at least 1")
        self.max_limit = max_limit
        self.limit = max_limit
        self.increase_every = increase_every
        self.in_flight = 0
        self.epoch = 0
        self._successes = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> int:
        """Wait for a free slot; returns the epoch to hand to ``on_overload``."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return self.epoch
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was granted just as we were cancelled
            else:
                self._waiters.remove(fut)
            raise
        return self.epoch

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            fut = self._waiters.popleft()
            if not fut.done():
                self.in_flight += 1
                fut.set_result(None)

    def on_success(self) -> None:
        """Additive increase: +1 slot per ``increase_every`` successes, up to the maximum."""
        if self.limit >= self.max_limit:
            return
        self._successes += 1
        if self._successes >= self.increase_every:
            self._successes = 0
            self.limit += 1
            self._wake()

    def on_overload(self, epoch: int) -> None:
        """Multiplicative decrease, once per epoch; in-flight requests above it drain."""
        if epoch != self.epoch:
            return
        self.epoch += 1
        self.limit = max(1, self.limit // 2)
        self._successes = 0


class TokenBucket:
    """Paces a per-minute budget (requests or tokens) with a burst of ``burst_s`` seconds.

    A request larger than the burst is let through once the bucket is full and drives it
    negative, so one huge prompt is delayed rather than blocked forever.
    """

    def __init__(self, per_minute: float, burst_s: float = 10.0) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()  # FIFO: a big request is not starved by small ones

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def take(self, amount: float) -> None:
        """Wait until ``amount`` (capped at the capacity) is available, then spend it."""
        async with self._lock:
            need = min(amount, self.capacity)
            self._refill()
            while self.tokens < need:
                await asyncio.sleep((need - self.tokens) / self.rate)
                self._refill()
            self.tokens -= amount

    def refund(self, amount: float) -> None:
        """Give back an over-estimate once the real usage is known (negative to charge)."""
        self._refill()
        self.tokens = min(self.capacity, self.tokens + amount)
