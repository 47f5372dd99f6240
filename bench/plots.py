"""PNG plots of one results record: latency against load, and throughput against the bare baselines."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot(record: dict, directory: Path, stem: str) -> list[Path]:
    written = []
    if "decision_latency" in record or "create_post" in record:
        written.append(_latency(record, directory / f"{stem}-latency.png"))
    if any(k in record for k in ("create_post", "pipes", "moderation")):
        written.append(_throughput(record, directory / f"{stem}-throughput.png"))
    return written


def _latency(record: dict, path: Path) -> Path:
    panels = [k for k in ("decision_latency", "create_post") if k in record]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.2), squeeze=False)
    for ax, key in zip(axes[0], panels):
        if key == "decision_latency":
            rows = record[key]
            rates = [r["rate"] for r in rows]
            for q, style in (("p50_ms", "o-"), ("p95_ms", "s-"), ("p99_ms", "^-")):
                ax.plot(rates, [r[q] for r in rows], style, label=q.split("_")[0])
            for r in rows:
                if r["lost"]:
                    ax.annotate(f"lost {r['lost']}", (r["rate"], r["p99_ms"]), textcoords="offset points",
                                xytext=(4, 4), fontsize=8, color="red")
            ax.axhline(1000, color="grey", linestyle="--", linewidth=1, label="budget p99 1 s")
            ax.set_xlabel("offered posts/s")
            ax.set_title("post 201 -> decision applied")
        else:
            cp = record[key]
            for steps, label in ((cp["steps"], "haven create-post"), (cp["baseline_steps"], "bare aiohttp + 1 INSERT")):
                ax.plot([s["rps"] for s in steps], [s["p99_ms"] for s in steps], "o-", label=f"{label} p99")
            ax.axhline(cp["p99_target_ms"], color="grey", linestyle="--", linewidth=1, label="p99 target")
            ax.set_xlabel("achieved requests/s (offered in steps)")
            ax.set_title("create-post API: p99 against throughput")
        ax.set_yscale("log")
        ax.set_ylabel("latency, ms (log)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(_caption(record), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _throughput(record: dict, path: Path) -> Path:
    pairs = []
    if "create_post" in record:
        cp = record["create_post"]
        pairs.append(("create-post\n(req/s @ p99 target)", cp["rps"], cp["baseline_rps"]))
    if "pipes" in record:
        p = record["pipes"]
        pairs.append(("outbox relay\n(events/s)", p["relay_eps"], p["bare_producer_eps"]))
        pairs.append(("consumer loop\n(events/s)", p["consumer_loop_eps"], p["bare_consumer_eps"]))
    if "moderation" in record:
        m = record["moderation"]
        pairs.append(("moderation fp32\n(texts/s)", m["worker_fp32"], m["raw_fp32"]))
        pairs.append(("moderation int8\n(texts/s)", m["worker_int8"], m["raw_int8"]))
        pairs.append(("moderation int8\n2 processes", m["worker_int8_2proc"], m["raw_int8"]))
    fig, ax = plt.subplots(figsize=(max(6, 1.9 * len(pairs)), 4.4))
    xs = range(len(pairs))
    ratios = [h / b if b else 0 for _, h, b in pairs]
    ax.bar([x - 0.2 for x in xs], [1.0] * len(pairs), 0.4, label="bare baseline", color="#bbbbbb")
    bars = ax.bar([x + 0.2 for x in xs], ratios, 0.4, label="haven", color="#3b75af")
    for bar, (_, h, b) in zip(bars, pairs):
        ax.annotate(f"{h:g} / {b:g}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                    va="bottom", fontsize=7, textcoords="offset points", xytext=(0, 2))
    ax.set_xticks(list(xs), [p[0] for p in pairs], fontsize=8)
    ax.set_ylabel("throughput relative to its baseline")
    ax.set_title("throughput against the bare baseline of the same run (labels: haven / baseline)")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(_caption(record), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _caption(record: dict) -> str:
    m = record.get("machine", {})
    return (f"{record.get('when', '')[:16]} {'QUICK' if record.get('quick') else 'full'} | "
            f"{m.get('cpu_model', m.get('processor', '?'))} x{m.get('cpus')} | Python {m.get('python')}")
