"""The fake Vertex AI server's faults: what to serve, for how long, and what was served.
Pure Python (no gRPC), so that the load test can check a fault's kind before starting it."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

FAULT_KINDS = (
    "none",
    "unavailable",
    "overloaded",
    "internal",
    "deadline",
    "slow",
    "malformed",
    "garbage",
    "hang",
)


@dataclass
class Fault:
    kind: str = "none"
    count: int | None = None  # None: every attempt until reset
    latency_ms: int = 0
    after_s: float = 0.0  # the fault starts this long after it is set
    for_s: float | None = None  # and lasts this long (None: until reset)


class FaultPlan:
    """The current fault and the attempt counters, shared by both protocols' threads."""

    def __init__(self, base_latency_ms: int = 0) -> None:
        self._lock = threading.Lock()
        self._fault = Fault()
        self._fault_set_at = time.monotonic()
        self.base_latency_ms = self.initial_latency_ms = base_latency_ms
        self.attempts = 0
        self.faults_served: Counter[str] = Counter()
        self.endpoints: list[str] = []
        self.per_second: Counter[int] = Counter()

    def set(self, fault: Fault) -> None:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; expected one of {FAULT_KINDS}")
        if fault.after_s < 0 or (fault.for_s is not None and fault.for_s <= 0):
            raise ValueError("after_s must be >= 0 and for_s > 0")
        with self._lock:
            self._fault = fault
            self._fault_set_at = time.monotonic()

    def reset(self) -> None:
        with self._lock:
            self._fault = Fault()
            self.base_latency_ms = self.initial_latency_ms
            self.attempts = 0
            self.faults_served.clear()
            self.endpoints.clear()
            self.per_second.clear()

    def _active(self, fault: Fault) -> bool:
        elapsed = time.monotonic() - self._fault_set_at
        if elapsed < fault.after_s:
            return False
        return fault.for_s is None or elapsed < fault.after_s + fault.for_s

    def next_attempt(self, endpoint: str) -> tuple[str, float]:
        """Count an attempt; return the fault kind to serve and the added latency (s)."""
        with self._lock:
            self.attempts += 1
            self.per_second[int(time.time())] += 1
            if endpoint not in self.endpoints:
                self.endpoints.append(endpoint)
            fault = self._fault
            if not self._active(fault):
                return "none", self.base_latency_ms / 1000.0
            kind = fault.kind
            if kind != "none" and fault.count is not None:
                if fault.count <= 0:
                    kind = "none"
                else:
                    fault.count -= 1
            if kind != "none":
                self.faults_served[kind] += 1
            return kind, (self.base_latency_ms + fault.latency_ms) / 1000.0

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "attempts": self.attempts,
                "faults_served": dict(self.faults_served),
                "endpoints": list(self.endpoints),
                "per_second": sorted(self.per_second.items()),
            }
