"""Client-side pacing for HTTP teachers: an AIMD concurrency limit and token buckets.

Why AIMD: a server's real capacity is unknown and changes (other tenants, autoscaling).
Halving on overload and creeping back up by one converges on the capacity the way TCP
congestion control does, without a knob per deployment. Overload has two signals: a 429
from a server (or gateway) that refuses what it cannot take, and latency from one that
queues instead (llama.cpp works one request at a time and holds the rest, so every request
sent beyond its capacity only waits longer, until it times out): that one is read as TCP
Vegas and Netflix's gradient limiter read it, latency against the lowest recently seen.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class AdaptiveLimiter:
    """A semaphore whose size shrinks on overload and grows back with success.

    ``acquire`` returns the *epoch* (how many decreases had happened when the slot was
    granted). Pass it back to ``on_overload`` and ``on_success`` so a burst of bad news from
    requests that were all sent under the old limit lowers the limit once, not once per
    request, and so those requests' latencies (queued behind the old limit) are not held
    against the new one.

    With ``latency=True`` a second signal works the same limit: the latency of each answer
    (``cost``: seconds, or seconds per token) against the lowest of the last
    ``BASELINE_WINDOW`` (the *baseline*: an answer that did not queue). A server that works
    fewer requests at a time than it is sent queues the rest, so latency grows with the
    requests in flight (in flight x service time) while throughput does not; a server that
    really works them in parallel keeps latency near the baseline. So:

    - start at ``INITIAL_LIMIT`` and grow by half per answer near the baseline (slow start,
      as TCP's; a parallel server is at full concurrency within about one round trip); an
      answer over ``SLOW_START_EXIT`` x baseline holds that growth, two in a row end it;
    - then, in rounds of half the limit's answers (at least ``ROUND_MIN_ANSWERS``): when
      even the fastest answer of a round took more than ``TOLERANCE`` x baseline, cut the
      limit by that ratio (at most by half, as Netflix's gradient limiter). A queue at the
      server delays every answer, so the fastest rises too; a pause of the client's own (a
      busy event loop, a descheduled process), a long reply or a slow moment of the server
      delays some, and must not cost concurrency;
    - an answer within the tolerance adds one slot (one per ``increase_every`` after a 429,
      whose limit is a quota that latency does not see).

    A one-request-at-a-time server thus settles at a limit of 2 to 5 (at 2 every answer
    takes twice the baseline, within the tolerance), and its queue stays that short.
    """

    #: where the latency-aware limit starts: a one-request-at-a-time server queues this many,
    #: and up to 18 before slow start stops (12 after the first answer, 18 if the second
    #: still looks uncongested); against a parallel one it costs the first round trip
    INITIAL_LIMIT = 8
    #: slow start stops growing once an answer takes this many times the baseline
    SLOW_START_EXIT = 1.5
    #: latency above this many times the baseline is queueing: the limit comes down. Not
    #: lower: a parallel server's per-token time grows with its batch (1.5x from 8 to 64
    #: requests is common on a GPU) without any queue, and that costs no throughput
    TOLERANCE = 2.0
    #: the fewest answers a round (one decision to lower the limit or not) takes
    ROUND_MIN_ANSWERS = 3
    #: the baseline is the lowest cost of this many recent answers, so a server that got
    #: slower for good (longer replies, other tenants) is measured anew, not throttled forever
    BASELINE_WINDOW = 256

    def __init__(self, max_limit: int, increase_every: int = 8, latency: bool = False) -> None:
        if max_limit < 1:
            raise ValueError("max_limit must be at least 1")
        self.max_limit = max_limit
        self.latency = latency
        self.limit = min(max_limit, self.INITIAL_LIMIT) if latency else max_limit
        self.increase_every = increase_every
        self.in_flight = 0
        self.epoch = 0
        self.latency_decreases = 0  # times rising latency lowered the limit
        self.rate_limited = False  # a 429 came: grow slowly from now on
        self._slow_start = latency
        self._successes = 0
        self._high = 0  # answers in a row above SLOW_START_EXIT during slow start
        self._round_n = 0  # answers in this round (current epoch only)
        self._round_min = float("inf")  # the lowest ratio to the baseline among them
        self._answers = 0
        # (answer number, cost), costs increasing: the head is the baseline (sliding minimum)
        self._lows: deque[tuple[int, float]] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def baseline(self) -> float | None:
        """The lowest cost among the last ``BASELINE_WINDOW`` answers (None before one)."""
        return self._lows[0][1] if self._lows else None

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

    def on_success(self, epoch: int | None = None, cost: float | None = None) -> None:
        """An answer came: grow the limit, or (latency mode, with the ``epoch`` its slot
        was granted in and its ``cost``) weigh its latency first."""
        if self.latency and cost is not None and cost > 0:
            self._weigh(cost, epoch)
            return
        if self.limit >= self.max_limit:
            return
        self._successes += 1
        if self._successes >= self.increase_every:
            self._successes = 0
            self._grow(1)

    def on_overload(self, epoch: int) -> None:
        """Multiplicative decrease, once per epoch; in-flight requests above it drain."""
        self.rate_limited = True
        self._slow_start = False
        self._decrease(epoch, 0.5)

    def _decrease(self, epoch: int, factor: float) -> None:
        if epoch != self.epoch:
            return
        self.epoch += 1
        self.limit = max(1, int(self.limit * factor))
        self._successes = 0
        self._round_n = 0
        self._round_min = float("inf")

    def _grow(self, step: int) -> None:
        self.limit = min(self.max_limit, self.limit + step)
        self._wake()

    def _weigh(self, cost: float, epoch: int | None) -> None:
        """The latency rule (see the class doc) for one answer."""
        self._answers += 1
        n = self._answers
        lows = self._lows
        while lows and lows[-1][1] >= cost:
            lows.pop()
        lows.append((n, cost))
        if lows[0][0] <= n - self.BASELINE_WINDOW:
            lows.popleft()
        if epoch is not None and epoch != self.epoch:
            return  # sent under a limit that has been lowered since: its queue is not ours
        ratio = cost / lows[0][1]
        self._round_n += 1
        self._round_min = min(self._round_min, ratio)
        if self._round_n >= max(self.ROUND_MIN_ANSWERS, self.limit // 2):
            fastest = self._round_min
            self._round_n, self._round_min = 0, float("inf")
            if fastest > self.TOLERANCE and self.limit > 1:
                self._slow_start = False
                self._decrease(self.epoch, max(0.5, self.TOLERANCE / fastest))
                self.latency_decreases += 1
                return
        if ratio > self.TOLERANCE:
            if self._slow_start:
                self._slow_start = False
                self._round_n, self._round_min = 1, ratio
            return
        # grow only while the limit binds: requests were waiting for a slot (or every slot
        # is taken), so the room would be used; an idle limit proves nothing about the server
        if self.limit >= self.max_limit or (not self._waiters and self.in_flight + 1 < self.limit):
            return
        if self._slow_start:
            if ratio <= self.SLOW_START_EXIT:
                self._high = 0
                self._grow(max(1, self.limit // 2))
                return
            self._high += 1  # one slow answer holds the growth; two end it
            if self._high < 2:
                return
            self._slow_start = False  # the queue begins: rounds count from here
            self._round_n, self._round_min = 0, float("inf")
        if self.rate_limited:
            self._successes += 1
            if self._successes < self.increase_every:
                return
            self._successes = 0
        self._grow(1)


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
