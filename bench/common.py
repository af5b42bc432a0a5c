"""What every benchmark writes: one JSON file in bench/results/ with the machine it ran on."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from schild import results
from schild.results import machine

__all__ = ["RESULTS", "delete_topics", "machine", "percentile", "write_result"]

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def write_result(name: str, metrics: dict[str, float], baseline: dict[str, float], notes: str = "") -> Path:
    return results.write_result(RESULTS / f"{name}.json", metrics, baseline, notes)


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
