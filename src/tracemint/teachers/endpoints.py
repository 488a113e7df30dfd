"""Several replicas of one model behind one teacher: pick the least busy healthy one.

Why least outstanding requests and not round robin: replicas are rarely equal (one vLLM
server is mid-way through a long prefill, another sits on a slower GPU), and the number of
requests a replica has not answered yet is the cheapest live measure of how busy it is.
Why per-replica health: one replica that restarts must not cost every request a timeout;
its failures take it out of rotation for a cooldown that doubles while it keeps failing,
and the first request after the cooldown is the probe that brings it back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from yarl import URL


@dataclass
class Endpoint:
    """One replica: its base URL, what it has in flight and its recent failures."""

    base: str
    in_flight: int = 0
    sent: int = 0
    failures: int = 0  # consecutive failed attempts; 0 once it answers
    down_until: float = 0.0  # monotonic time before which it gets no requests
    _urls: dict[str, URL] = field(default_factory=dict, repr=False)

    def url(self, path: str) -> URL:
        """``base + path``, parsed once: yarl parsing per request is measurable at 1,000/s."""
        u = self._urls.get(path)
        if u is None:
            u = self._urls[path] = URL(f"{self.base}{path}")
        return u

    def healthy(self, now: float) -> bool:
        return self.down_until <= now


class EndpointPool:
    """Chooses a replica per attempt and keeps each one's health.

    ``cooldown_s`` is the first pause after a failure, doubled per further consecutive failure
    up to ``max_cooldown_s``; a ``Retry-After`` from the replica sets the pause instead.
    """

    def __init__(
        self,
        bases: Sequence[str],
        *,
        cooldown_s: float = 1.0,
        max_cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not bases:
            raise ValueError("an endpoint pool needs at least one base URL")
        self.endpoints = [Endpoint(b.rstrip("/")) for b in bases]
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._clock = clock
        self._next = 0  # rotates the tie-break, so equal replicas share the load

    def __len__(self) -> int:
        return len(self.endpoints)

    def acquire(self) -> Endpoint:
        """The healthy replica with the fewest requests in flight (the soonest back if none)."""
        eps = self.endpoints
        chosen = eps[0]
        if len(eps) > 1:
            now = self._clock()
            n = len(eps)
            start = self._next
            self._next = (start + 1) % n
            best: Endpoint | None = None
            for i in range(n):
                ep = eps[(start + i) % n]
                if ep.healthy(now) and (best is None or ep.in_flight < best.in_flight):
                    best = ep
            # all resting: try the one whose pause ends first
            chosen = best if best is not None else min(eps, key=lambda e: e.down_until)
        chosen.in_flight += 1
        chosen.sent += 1
        return chosen

    def release(self, ep: Endpoint, *, ok: bool, retry_after: float | None = None) -> None:
        """Record how an attempt on ``ep`` ended: ``ok`` False for a failure of the replica
        (connection error, timeout, 5xx, 429), not for a request the replica rightly refused."""
        ep.in_flight -= 1
        if ok:
            ep.failures = 0
            ep.down_until = 0.0
            return
        ep.failures += 1
        if len(self.endpoints) == 1:
            return  # nowhere else to send it: the retry backoff alone paces the next try
        if retry_after is not None:
            pause = retry_after
        else:
            pause = min(self.max_cooldown_s, self.cooldown_s * 2 ** (ep.failures - 1))
        ep.down_until = max(ep.down_until, self._clock() + pause)

    def snapshot(self) -> list[dict[str, float | int | str | bool]]:
        """Per-replica counters for progress and logs (no secrets: base URLs only)."""
        now = self._clock()
        return [
            {
                "base_url": e.base,
                "in_flight": e.in_flight,
                "sent": e.sent,
                "failures": e.failures,
                "healthy": e.healthy(now),
            }
            for e in self.endpoints
        ]
