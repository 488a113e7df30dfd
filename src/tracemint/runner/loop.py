"""Which event loop runs a run: uvloop when it is installed, asyncio's otherwise.

uvloop cuts the event loop's own cost per request by about a quarter (measured in
benchmarks/throughput.py), which is most of what separates a 256-way run from the server's
ceiling on a small machine. ``TRACEMINT_LOOP=asyncio`` forces the standard loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    if os.environ.get("TRACEMINT_LOOP", "").lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)
