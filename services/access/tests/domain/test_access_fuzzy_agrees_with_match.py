"""Fuzzy search (access) and fuzzy matching (match) agree on every pair of plates, under any classes
a zone may configure: a search for a plate finds a read exactly when match, allowed any number of
look-alike substitutions and no edit, would match the read against that plate."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anpr.v1 import common_pb2, read_pb2
from anpr_access.bootstrap import build_app
from anpr_access.domain.search import fuzzy_search_finds
from anpr_access.settings import AccessSettings
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.plates import Confusables, normalise_plate
from anpr_core.testing import eventually

# Match's rule, imported here only: access never depends on match.
from anpr_match.domain.fuzzy import compare

pytestmark = pytest.mark.usefixtures("no_anpr_environment")

CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@st.composite
def zone_classes(draw: st.DrawFn) -> Confusables:
    """Any classes a zone may set: disjoint groups of two or more plate characters."""
    chosen = draw(st.lists(st.sampled_from(CHARACTERS), unique=True, max_size=20))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(chosen) - 1)), max_size=6)))
    groups = [chosen[a:b] for a, b in zip([0, *cuts], [*cuts, len(chosen)], strict=True)]
    return Confusables(["".join(g) for g in groups if len(g) >= 2])


def plates(confusables_alphabet: str = CHARACTERS) -> st.SearchStrategy[str]:
    return st.text(alphabet=confusables_alphabet, min_size=1, max_size=10)


def matched_by_match(asked: str, plate: str, confusables: Confusables) -> bool:
    # Unlimited substitutions, no edit: the fuzzy matching a search is the counterpart of.
    listed, read = normalise_plate(asked), normalise_plate(plate)
    # The same Confusables object: both services take it from anpr_core.plates.
    return compare(read, listed, len(listed), False, confusables) is not None


@given(zone_classes(), plates(), plates())
def test_fuzzy_search_and_fuzzy_matching_agree_on_any_pair(
    confusables: Confusables, asked: str, plate: str
) -> None:
    assert fuzzy_search_finds(asked, plate, confusables) == matched_by_match(asked, plate, confusables)


@given(zone_classes(), st.data())
def test_they_agree_on_look_alikes_too(confusables: Confusables, data: st.DataObject) -> None:
    # Random pairs rarely look alike; here the read is the asked plate with look-alikes swapped in.
    asked = data.draw(plates())
    swapped = "".join(
        data.draw(st.sampled_from(next((g for g in confusables.classes if c in g), c))) for c in asked
    )
    assert fuzzy_search_finds(asked, swapped, confusables)
    assert matched_by_match(asked, swapped, confusables)
    typed = data.draw(st.sampled_from([asked.lower(), "-".join(asked), f" {asked} "]))
    assert fuzzy_search_finds(typed, swapped, confusables) == matched_by_match(typed, swapped, confusables)


# --- the search the store runs finds what the rule says --------------------------------------------


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, MemoryBus, DevIssuer]]:
    bus, issuer = MemoryBus(), DevIssuer(tmp_path / "key.pem")
    classes = ("0ODQ", "1IL7T", "8B", "5SZ2")
    settings = AccessSettings(data_dir=tmp_path, retention_interval_s=0, confusable_classes=classes)
    app = build_app(settings, bus, make_engine(None, "access", tmp_path), issuer)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        yield http, bus, issuer


async def test_the_stored_search_finds_exactly_the_reads_the_rule_finds(
    client: tuple[httpx.AsyncClient, MemoryBus, DevIssuer],
) -> None:
    http, bus, issuer = client
    confusables = Confusables(("0ODQ", "1IL7T", "8B", "5SZ2"))
    rng = random.Random(16)
    base = ["1AB0", "IA80", "LABO", "7A8D", "1AB", "1AB00", "TABQ", "2S5Z", "ZZ22", "5SZ2", "X1Y"]
    stored = base + ["".join(rng.choice("0OD1IL7TB8AX5SZ2") for _ in range(4)) for _ in range(40)]
    reads = []
    for n, plate in enumerate(stored):
        read = read_pb2.PlateRead(
            meta=new_meta("5344", "detect"),
            camera_id="cam-1",
            captured_at=to_timestamp(datetime.now(UTC) - timedelta(minutes=10, seconds=n)),
            direction=common_pb2.DIRECTION_IN,
            plate=plate,
            reader="test",
        )
        reads.append(read)
        await bus.publish(Topics().reads, b"cam-1", read.SerializeToString())

    async def all_consumed() -> bool:
        return bus.pending() == 0

    await eventually(all_consumed)
    token = issuer.issue("alice", Role.INVESTIGATOR)
    for asked in [*base, "1-ab-0", "x1y"]:
        response = await http.get(
            "/v1/passages",
            params={"plate": asked, "fuzzy": "true", "purpose": "judicial", "case_reference": "PV/1",
                    "legal_basis": "art. 44/5 WPA", "limit": 500},
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
        assert response.status_code == 200, response.text
        found = {read["event_id"] for item in response.json()["items"] for read in item["reads"]}
        wanted = {r.meta.event_id for r in reads if matched_by_match(asked, r.plate, confusables)}
        assert found == wanted, asked
        assert wanted, f"{asked} should find at least one read"
    nothing = await http.get(
        "/v1/passages",
        params={"plate": "QQQQQQ", "fuzzy": "true", "purpose": "judicial", "case_reference": "PV/1",
                "legal_basis": "art. 44/5 WPA"},
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert nothing.json()["items"] == []
