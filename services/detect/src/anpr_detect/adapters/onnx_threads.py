"""How detect's ONNX Runtime sessions use the CPU: intra-op threads from the machine's cores shared
by the readers in flight, and threads that sleep rather than spin when they run out of work.

Spinning (ONNX Runtime's default) keeps idle pool threads busy-waiting for the next operator. With
several sessions in one process (detector, text detector, recogniser, one set per reader) on few
cores, the spinning threads of one session take the cores another session needs: measured on the
2-core machine, the detector-then-recogniser pipeline took 64 ms a frame spinning, 30 ms not.
"""

from __future__ import annotations

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import onnxruntime as ort

__all__ = ["SPINNING_ENTRY", "machine_cores", "session_options", "threads_per_reader"]

SPINNING_ENTRY = "session.intra_op.allow_spinning"


def machine_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity (macOS)
        return max(1, os.cpu_count() or 1)


def threads_per_reader(threads: int | None, readers: int) -> int:
    """Intra-op threads of each reader: `threads` in all (None: the machine's cores) shared by the
    readers running side by side, at least one each."""
    total = threads if threads is not None else machine_cores()
    return max(1, total // max(1, readers))


def session_options(threads: int, *, spinning: bool = False, memory_arena: bool = True) -> ort.SessionOptions:
    """Options for one of detect's sessions: `threads` intra-op threads, one inter-op thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = memory_arena
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: a quiet model load is the normal one
    options.add_session_config_entry(SPINNING_ENTRY, "1" if spinning else "0")
    return options
