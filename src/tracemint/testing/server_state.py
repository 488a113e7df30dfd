"""What the test server remembers between requests: counters, the fault stream, fingerprints.

``GET /stats`` is how tests prove a resumed run repeated no finished call, so the
bookkeeping (and the seeded fault draws a test replays) lives apart from the HTTP handlers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tracemint.testing.fakemodel import FakeModel
from tracemint.testing.server_options import ServerOptions
from tracemint.testing.simulated import SimulatedServerModel


def request_fingerprint(body: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the fields that decide a reply.

    Canonical: keys sorted, no whitespace, UTF-8, absent fields as null, over exactly
    ``model, messages, prompt, seed, temperature, max_tokens, top_p``.
    """
    keyed = {
        k: body.get(k)
        for k in ("model", "messages", "prompt", "seed", "temperature", "max_tokens", "top_p")
    }
    canon = json.dumps(keyed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()


@dataclass
class ServerState:
    """Counters behind ``GET /stats``; one per app."""

    options: ServerOptions
    model: FakeModel | SimulatedServerModel
    rng: random.Random = field(init=False)
    requests: int = 0
    ok: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    by_key: Counter[str] = field(default_factory=Counter)
    by_key_received: Counter[str] = field(default_factory=Counter)
    blanked: Counter[str] = field(default_factory=Counter)  # blank replies per fingerprint
    repeated_ok: int = 0
    repeated_received: int = 0
    first_request_at: float | None = None
    last_ok_at: float | None = None
    slots: asyncio.Semaphore | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.options.seed)
        if self.options.slots is not None:
            self.slots = asyncio.Semaphore(self.options.slots)

    def reset(self) -> None:
        """Forget everything seen; the fault sequence restarts from the seed."""
        self.rng = random.Random(self.options.seed)
        self.requests = self.ok = self.repeated_ok = self.repeated_received = 0
        self.first_request_at = self.last_ok_at = None
        self.max_in_flight = self.in_flight
        for c in (self.faults, self.rejected, self.by_key, self.by_key_received, self.blanked):
            c.clear()

    def draw_fault(self) -> str | None:
        """The fault to inject into the current request (counted), or None.

        ``fault_rate`` is the chance, the kind is drawn uniformly from ``faults``; one
        seeded stream per server, so the same sequence of requests meets the same faults.
        """
        opts = self.options
        if opts.fault_rate and self.rng.random() < opts.fault_rate:
            fault = opts.faults[self.rng.randrange(len(opts.faults))]
            self.faults[fault] += 1
            return fault
        return None

    def snapshot(self, keys: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": self.requests,
            "ok": self.ok,
            "faults": dict(self.faults),
            "rejected": dict(self.rejected),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "repeated": {"ok": self.repeated_ok, "received": self.repeated_received},
            "first_request_at": self.first_request_at,
            "last_ok_at": self.last_ok_at,
        }
        if keys:
            out["by_key"] = dict(self.by_key)
            out["by_key_received"] = dict(self.by_key_received)
        return out
