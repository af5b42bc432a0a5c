"""Result files of measurements (`make bench`, `anpr eval`): one JSON file each, with the machine
it ran on and a baseline measured in the same run."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


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


def write_result(path: Path, metrics: dict[str, float], baseline: dict[str, float], notes: str = "") -> Path:
    """Writes `path` (its stem names the benchmark), with each metric's ratio to its baseline."""
    ratio = {
        key: round(metrics[key] / baseline[key], 3) for key in metrics if key in baseline and baseline[key]
    }
    result = {
        "benchmark": path.stem,
        "metrics": metrics,
        "baseline": baseline,
        "ratio": ratio,
        "machine": machine(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "notes": notes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return path
