"""The exchange's topics: this zone's topics for each neighbour are made here (the reads with the
zone's partition count; the hotlist compacted, in one partition, so a neighbour gets a zone's
hotlist records in the order they were sent)."""

from __future__ import annotations

from collections.abc import Sequence

from anpr_core.bus.kafka import KafkaBus, KafkaSecurity


class ExchangeTopics:
    """Makes topics on the exchange; without a broker (the embedded mode's in-process exchange) a
    topic exists once it is used, and there is nothing to make."""

    def __init__(self, bootstrap: str | None, security: KafkaSecurity | None, *, partitions: int) -> None:
        self._bootstrap = bootstrap
        self._security = security
        self._partitions = partitions

    async def ensure(self, reads: Sequence[str], hotlists: Sequence[str]) -> None:
        if self._bootstrap is None:
            return
        client = "schild-share-exchange"
        if reads:
            bus = KafkaBus(
                self._bootstrap, client_id=client, partitions=self._partitions, security=self._security
            )
            await bus.ensure_topics(reads)
        if hotlists:
            bus = KafkaBus(
                self._bootstrap,
                client_id=client,
                compacted=set(hotlists),
                partitions=1,
                security=self._security,
            )
            await bus.ensure_topics(hotlists)
