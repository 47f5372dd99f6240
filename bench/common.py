"""Shared pieces of the benchmarks: settings, HDR histograms, the open-loop load generator, progress lines.

Open loop: request *i* is due at ``start + i / rate`` whatever happened to the earlier ones, and its
latency is measured from that due time, not from when it was actually sent, so a stalled server is
charged for the queue it builds (no coordinated omission). Requests due in the warm-up are sent but
not recorded.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from hdrh.histogram import HdrHistogram

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUICK = os.environ.get("QUICK", "") not in ("", "0")
RESULTS = ROOT / "bench" / "results"
CACHE = Path(os.environ.get("HAVEN_BENCH_CACHE", Path.home() / ".cache" / "haven" / "bench"))
MAX_US = 600_000_000  # 10 minutes: anything slower is clipped


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def histogram() -> HdrHistogram:
    """Microseconds, 3 significant digits, up to 10 minutes."""
    return HdrHistogram(1, MAX_US, 3)


def record(hist: HdrHistogram, seconds: float) -> None:
    hist.record_value(min(MAX_US, max(1, int(seconds * 1_000_000))))


def pct_ms(hist: HdrHistogram, percentile: float) -> float | None:
    if hist.get_total_count() == 0:
        return None
    return round(hist.get_value_at_percentile(percentile) / 1000.0, 2)


def summary(hist: HdrHistogram) -> dict:
    return {"count": hist.get_total_count(), "p50_ms": pct_ms(hist, 50), "p95_ms": pct_ms(hist, 95),
            "p99_ms": pct_ms(hist, 99), "max_ms": pct_ms(hist, 100)}


def machine() -> dict:
    import psutil

    info = {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "platform": platform.platform(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    return info


@dataclass
class Step:
    """One fixed-rate step of an open-loop run."""

    rate: float
    seconds: float
    hist: HdrHistogram = field(default_factory=histogram)
    ok: int = 0
    errors: int = 0
    shed: int = 0  # due while max_inflight requests were already outstanding: counted, not sent
    rps: float = 0.0

    def as_dict(self) -> dict:
        return {"rate": self.rate, "rps": round(self.rps, 1), "ok": self.ok, "errors": self.errors,
                "shed": self.shed, **summary(self.hist)}


async def open_loop(rate: float, seconds: float, warmup: float, fire: Callable[[int], Awaitable[bool]], *,
                    max_inflight: int = 2000, grace: float = 30.0) -> Step:
    """Call ``fire(i)`` at ``rate`` per second for ``warmup + seconds``; record the measured part.

    ``fire`` returns True on success. Throughput (``rps``) is the successful measured requests over the
    time from the end of the warm-up until the last of them completed (at least ``seconds``): a server
    that falls behind stretches that time and its throughput drops below the offered rate.
    """
    loop = asyncio.get_running_loop()
    step = Step(rate, seconds)
    start = loop.time() + 0.05
    measure_from = start + warmup
    total = int(rate * (warmup + seconds))
    inflight: set[asyncio.Task] = set()
    last_done = measure_from

    async def one(i: int, due: float) -> None:
        nonlocal last_done
        try:
            ok = await fire(i)
        except Exception:  # noqa: BLE001 - an error is a figure, not a crash
            ok = False
        now = loop.time()
        if due < measure_from:
            return
        if ok:
            step.ok += 1
            record(step.hist, now - due)
            last_done = max(last_done, now)
        else:
            step.errors += 1

    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(inflight) >= max_inflight:
            if due >= measure_from:
                step.shed += 1
            continue
        task = asyncio.ensure_future(one(i, due))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    if inflight:
        await asyncio.wait(set(inflight), timeout=grace)
        for task in set(inflight):
            task.cancel()
    step.rps = step.ok / max(seconds, last_done - measure_from)
    return step


def line(label: str, step: Step) -> str:
    d = step.as_dict()
    return (f"{label}: offered {step.rate:g}/s -> {d['rps']:.1f}/s ok={d['ok']} err={d['errors']} shed={d['shed']} "
            f"p50={d['p50_ms']} p99={d['p99_ms']} ms")
