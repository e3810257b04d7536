"""Timing helpers shared by the benchmarks: medians after warm-up, and the load of others.

The machine is shared (2 cores, other jobs come and go), so every timed figure carries the CPU
that *other* processes used while it ran: the busy time of ``/proc/stat`` less this process's
own CPU time, in cores. A figure taken with others at 0.5 cores or more is marked noisy.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["NOISY", "Load", "load_average", "measure"]

#: CPU cores used by other processes above which a timing is reported as noisy.
NOISY = 0.5
_STAT = Path("/proc/stat")


def _busy_seconds() -> float | None:
    """Seconds of CPU the whole machine has been busy since boot (None where unknown)."""
    try:
        fields = [int(v) for v in _STAT.read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def load_average() -> float | None:
    """The 1-minute load average (None where unknown)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


class Load:
    """Context manager: the CPU (in cores) other processes used while the block ran.

    Attributes after the block: ``others`` (cores, None where ``/proc/stat`` is missing),
    ``own`` (this process's cores) and ``seconds`` (wall time).
    """

    def __enter__(self) -> Load:
        self._busy, self._own, self._wall = _busy_seconds(), _own_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = max(time.perf_counter() - self._wall, 1e-9)
        own = _own_seconds() - self._own
        busy = _busy_seconds()
        self.own = own / self.seconds
        self.others = (
            None
            if busy is None or self._busy is None
            else max(0.0, (busy - self._busy) - own) / self.seconds
        )


def measure(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> dict[str, Any]:
    """Time ``fn`` ``repeats`` times after ``warmup`` untimed calls.

    Returns:
        ``seconds`` (the median), ``runs`` (every timed run), ``others_cores`` (the mean CPU
        other processes used during the timed runs), ``load_average`` and ``noisy``.
    """
    for _ in range(warmup):
        fn()
    runs = []
    with Load() as load:
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(runs),
        "runs": [round(r, 4) for r in runs],
        "others_cores": None if load.others is None else round(load.others, 2),
        "load_average": load_average(),
        "noisy": load.others is not None and load.others >= NOISY,
    }
