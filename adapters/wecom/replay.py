"""Replay protection for WeCom callbacks: a timestamp window and a cache of recently seen nonces."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class ReplayGuard:
    """WeCom signs timestamp+nonce but never checks freshness for us (platforms.md): a captured
    callback could be replayed forever. Reject timestamps outside the window and nonces seen
    within it. A nonce is claimed only after the signature verified, and released again when the
    event could not be stored, so the platform's own retry of that callback is still accepted."""

    def __init__(self, *, window_seconds: float = 300.0, max_nonces: int = 100_000,
                 clock: Callable[[], float] = time.time) -> None:
        self._window = window_seconds
        self._max = max_nonces
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check_timestamp(self, timestamp: str) -> bool:
        try:
            ts = int(timestamp)
        except (TypeError, ValueError):
            return False
        return abs(self._clock() - ts) <= self._window

    def claim(self, timestamp: str, nonce: str) -> bool:
        """True the first time (timestamp, nonce) is seen inside the window."""
        now = self._clock()
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at <= 2 * self._window and len(self._seen) < self._max:
                break
            del self._seen[key]
        key = f"{timestamp}:{nonce}"
        if key in self._seen:
            return False
        self._seen[key] = now
        return True

    def release(self, timestamp: str, nonce: str) -> None:
        self._seen.pop(f"{timestamp}:{nonce}", None)
