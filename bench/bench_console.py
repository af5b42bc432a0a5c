"""The console's time to first render, in Debian's Chromium on the embedded platform: the live page
with 10,000 hits (history and stream) and a search page with 1,000 passages, each against the same
page with nothing to show (the baseline), in the same run.

The services' answers are fixed (Playwright answers the page's calls to /console/api/...), so what
is timed is the console itself: its scripts, its rendering, its paging. The services' own speed is
in their benches. Each figure is the median of RUNS navigations, from the navigation's start (live)
or the click on Search (search) to the first row on screen.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Route

from anpr_core.auth import Role
from bench.common import write_result
from schild.browser import chromium, served_platform, sign_in

RUNS = 7
HITS = 10_000
PASSAGES = 1_000


class _NoPlates:
    def read(self, image: object) -> list[object]:
        return []


def _hit(n: int, now: datetime) -> dict[str, Any]:
    return {
        "hit_id": f"h{n}",
        "read_event_id": f"r{n}",
        "entry_id": "e",
        "camera_id": f"cam-{n % 7}",
        "captured_at": (now - timedelta(seconds=n)).isoformat(),
        "plate_read": f"1XYZ{n:04d}",
        "plate_listed": f"1XYZ{n:04d}",
        "match_kind": "exact",
        "differing_positions": [],
        "score": 1.0,
        "list_name": f"list-{n % 3}",
        "category": "stolen_vehicle",
        "priority": 1,
        "action": "notify",
        "direction": "in",
        "from_lookback": False,
        "ack_outcome": None,
        "ack_reason": None,
        "ack_by": None,
        "ack_at": None,
    }


def _passage(n: int, now: datetime) -> dict[str, Any]:
    seen = (now - timedelta(minutes=n)).isoformat()
    read = {
        "event_id": f"r{n}",
        "camera_id": "cam-1",
        "captured_at": seen,
        "direction": "in",
        "plate": f"1XYZ{n:04d}",
        "formatted": f"1-XYZ-{n:04d}"[:9],
        "country": "BE",
        "format_valid": True,
        "confidence": 0.97,
        "camera_read": False,
        "has_crop": True,
        "has_overview": True,
    }
    return {
        "passage_id": f"p{n}",
        "camera_id": "cam-1",
        "direction": "in",
        "first_seen": seen,
        "last_seen": seen,
        "plate": read["plate"],
        "formatted": read["formatted"],
        "country": "BE",
        "confidence": 0.97,
        "reads": [read],
    }


def _answers(page: Page, hits: int, passages: int) -> None:
    now = datetime.now(UTC)
    history = json.dumps([_hit(n, now) for n in range(min(hits, 200))])
    stream = "".join(
        f"id: s{n}\nevent: hit\ndata: {json.dumps(_hit(n + 200, now))}\n\n" for n in range(max(0, hits - 200))
    )
    found = json.dumps(
        {
            "items": [_passage(n, now) for n in range(passages)],
            "offset": 0,
            "limit": 500,
            "next_offset": None,
            "legal_tier": "recent",
            "total": passages,
            "total_exact": True,
        }
    )
    rates = json.dumps({"since": now.isoformat(), "until": now.isoformat(), "lists": [], "cameras": []})

    def answer(route: Route) -> None:
        url = route.request.url
        if "/hits/stream" in url:
            route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=stream)
        elif "/hits/false-alarm-rates" in url:
            route.fulfill(status=200, content_type="application/json", body=rates)
        elif "/match/v1/hits" in url:
            route.fulfill(status=200, content_type="application/json", body=history)
        else:
            route.fulfill(status=200, content_type="application/json", body=found)

    page.route("**/console/api/match/v1/hits**", answer)
    page.route("**/console/api/access/v1/passages**", answer)


def _live_ms(page: Page, base: str, hits: int) -> float:
    page.goto(f"{base}/#/traffic")
    page.goto(f"{base}/#/live")
    page.reload()
    if hits:
        page.locator("table.hits tbody tr").first.wait_for()
        page.locator(".counts", has_text=f"{hits:,}").wait_for()
    else:
        page.locator(".counts", has_text="Hits: 0").wait_for()
    ms: float = page.evaluate("performance.now()")
    return ms


def _search_ms(page: Page, base: str, passages: int) -> float:
    page.goto(f"{base}/#/search")
    page.get_by_label("Purpose").select_option("judicial")
    page.get_by_label("Case or PV number").fill("PV/bench")
    page.get_by_label("Legal basis").fill("bench")
    started: float = page.evaluate("performance.now()")
    page.get_by_role("button", name="Search", exact=True).click()
    page.locator("ol.passages > li" if passages else ".counts").first.wait_for()
    if passages:
        page.locator("ol.passages > li").nth(passages - 1).wait_for(state="attached")
    ended: float = page.evaluate("performance.now()")
    return ended - started


def main() -> None:
    measured: dict[str, float] = {}
    baseline: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory() as data,
        served_platform(Path(data) / "var", reader_factory=lambda _settings: _NoPlates()) as served,
        chromium() as browser,
    ):
        for hits, passages, into in ((HITS, PASSAGES, measured), (0, 0, baseline)):
            page = browser.page()
            _answers(page, hits, passages)
            sign_in(page, served.base_url, Role.INVESTIGATOR)
            live = [_live_ms(page, served.base_url, hits) for _ in range(RUNS)]
            search = [_search_ms(page, served.base_url, passages) for _ in range(RUNS)]
            into["live_first_render_ms"] = round(statistics.median(live), 1)
            into["search_first_render_ms"] = round(statistics.median(search), 1)
            into["live_first_render_max_ms"] = round(max(live), 1)
            into["search_first_render_max_ms"] = round(max(search), 1)
            page.close()
    path = write_result(
        "console",
        measured,
        baseline,
        notes=(
            "Chromium (Debian) headless. Live: navigation start to the first row with "
            f"{HITS:,} hits (200 from GET /v1/hits, the rest from the stream), 50 rows a page. Search: "
            f"click to the last of {PASSAGES:,} passages in the DOM (one answer of {PASSAGES:,}). "
            f"Baseline: the same pages with nothing to show. Median (and max) of {RUNS} runs. The "
            "services' answers are fixed by the browser test harness: the console alone is timed."
        ),
    )
    print(json.dumps({"result": str(path), "metrics": measured, "baseline": baseline}))


if __name__ == "__main__":
    main()
