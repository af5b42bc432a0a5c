"""What every benchmark writes: one JSON file in bench/results/ with the machine it ran on."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    cpu_model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_bytes = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_bytes = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_bytes / 2**30, 1),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def write_result(name: str, metrics: dict[str, float], baseline: dict[str, float], notes: str = "") -> Path:
    ratio = {
        key: round(metrics[key] / baseline[key], 3) for key in metrics if key in baseline and baseline[key]
    }
    result = {
        "benchmark": name,
        "metrics": metrics,
        "baseline": baseline,
        "ratio": ratio,
        "machine": machine(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "notes": notes,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return path


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Deletes the topics a bench run created (they hold gigabytes of frames); never fails the run."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-cleanup")
    try:
        await admin.start()
        mine = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    except KafkaError as error:
        print(f"bench: could not delete the {prefix}* topics: {error}", file=sys.stderr)
    finally:
        await admin.close()
