"""``embedding.runtime: auto``: the faster runtime for this backbone on this machine, measured.

At first use, a short timed probe runs each candidate runtime on the first real batch
(interleaved rounds, median images/s). The result is kept in ``runtimes/probes.json``
beside the embedding cache, keyed by the backbone, preprocessing, device, precision,
thread count, CPU model and library versions, so later runs on the same machine reuse it
without measuring again. Every choice carries the rates and the reason, and is logged.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from slopscore.embedding.onnx_export import locked

__all__ = ["PROBE_IMAGES", "RuntimeChoice", "cpu_model", "measure_rates", "ProbeCache"]

#: The probe's batch is the first real batch, repeated up to this many images.
PROBE_IMAGES = 8
PROBE_ROUNDS = 3
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeChoice:
    """Which runtime encodes, and why.

    Attributes
    ----------
    runtime : {"torch", "onnxruntime"}
    reason : str
        ``requested``, ``measured``, ``measured earlier on this machine``, or why
        nothing was measured (e.g. ``CUDA keeps PyTorch``).
    rates : dict
        Probe images/s per candidate runtime (empty when nothing was measured).
    """

    runtime: str
    reason: str
    rates: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for logs and the terminal."""
        measured = ", ".join(f"{name} {rate:.1f} images/s" for name, rate in self.rates.items())
        return f"runtime {self.runtime} ({self.reason}{': ' + measured if measured else ''})"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure_rates(candidates: dict[str, Callable[[], object]], images: int,
                  rounds: int = PROBE_ROUNDS) -> dict[str, float]:
    """Images/s of each ``candidates[name]()`` call (``images`` per call): one warm-up call
    each, then ``rounds`` interleaved timed calls; medians (this machine's speed drifts)."""
    for run in candidates.values():
        run()
    seconds: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return {name: images / statistics.median(values) for name, values in seconds.items()}


class ProbeCache:
    """Probe results in ``folder/probes.json``: ``{key: {"runtime": ..., "rates": {...}}}``."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / "probes.json"

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> dict | None:
        """The stored result for ``key``, or None."""
        entry = self._read().get(key)
        valid = isinstance(entry, dict) and entry.get("runtime") in {"torch", "onnxruntime"}
        return entry if valid else None

    def put(self, key: str, runtime: str, rates: dict[str, float]) -> None:
        """Store one result (atomically; other keys are kept)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with locked(self.path):
            data = self._read()
            data[key] = {"runtime": runtime, "rates": rates, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
            handle = tempfile.NamedTemporaryFile("w", dir=self.path.parent, suffix=".tmp", delete=False,
                                                 encoding="utf-8")
            with handle:
                json.dump(data, handle, indent=1, sort_keys=True)
            os.replace(handle.name, self.path)


def probe_key(fields: dict[str, object]) -> str:
    """A readable, stable key from the fields a probe result depends on."""
    return json.dumps(fields, sort_keys=True)


def choose(cache: ProbeCache, fields: dict[str, object],
           candidates: dict[str, Callable[[], object]], images: int) -> RuntimeChoice:
    """The cached choice for ``fields``, else measure ``candidates`` now and cache the winner."""
    key = probe_key(fields)
    stored = cache.get(key)
    if stored is not None and set(stored.get("rates", {})) == set(candidates):
        choice = RuntimeChoice(stored["runtime"], "auto, measured earlier on this machine",
                               {k: float(v) for k, v in stored["rates"].items()})
    else:
        rates = measure_rates(candidates, images)
        winner = max(rates, key=rates.get)
        cache.put(key, winner, rates)
        choice = RuntimeChoice(winner, "auto, measured now", rates)
    _log.info("embedding %s", choice.describe())
    return choice
