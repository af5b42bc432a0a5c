"""The console in a real browser (Debian's Chromium, Playwright), on the embedded platform served
for real with the real plate reader: each role sees only its pages; a hotlisted plate pushed as a
frame arrives live and is acknowledged as a false alarm with a reason; a search is refused without
a purpose and allowed with one, and the auditor sees it; a DPO request goes from registration to
its export; the page speaks Dutch and French; the live list stays paged with 10,000 hits; and no
page, the API docs included, asks any host but the platform.

Screenshots of the main pages go to $SCHILD_SCREENSHOTS when set (docs/screenshots is made so)."""

from __future__ import annotations

import io
import json
import os
import re
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Route, expect

from anpr_console.domain.pages import pages_for
from anpr_core.auth import Role
from anpr_detect_training.synthetic import render_scene
from schild.browser import Browser, Served, chromium, served_platform, sign_in

PLATE = "1ABC234"
CASE = "PV/2026/555"
PAGE_NAMES = {
    "live": "Live hits",
    "search": "Search",
    "hotlists": "Hotlists",
    "cameras": "Cameras",
    "traffic": "Traffic",
    "dpo": "DPO requests",
    "audit": "Audit",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("ANPR_"):
                env.delenv(name)
        # The reader takes a second or two a frame on a busy machine: frames of one car stay one passage.
        env.setenv("ANPR_PASSAGE_WINDOW_S", "8")
        with served_platform(tmp_path_factory.mktemp("console") / "var") as platform:
            _setup(platform)
            yield platform


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as opened:
        yield opened


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("SCHILD_SCREENSHOTS")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _setup(served: Served) -> None:
    """A registered camera, a list and the wanted plate, made through the APIs as an admin and a
    supervisor would."""
    with served.client(Role.ADMIN) as admin:
        camera = admin.post(
            "/ingest/v1/cameras",
            json={
                "camera_id": "cam-e40-in",
                "name": "E40 Groot-Bijgaarden",
                "direction": "in",
                "position": {"lat": 50.8705, "lon": 4.2651},
                "road": "E40",
                "approval_reference": "GR-2026-014",
                "impact_analysis_reference": "DPIA-2026-03",
                "sign": {"lat": 50.8712, "lon": 4.2630, "description": "before the exit, both sides"},
            },
        )
        assert camera.status_code == 201, camera.text
        admin.post(
            "/ingest/v1/cameras",
            json={
                "camera_id": "cam-ring-out",
                "name": "R0 Zellik",
                "direction": "out",
                "position": {"lat": 50.8891, "lon": 4.2745},
            },
        ).raise_for_status()
        served.camera_key = camera.json()["api_key"]  # type: ignore[attr-defined]
    with served.client(Role.SUPERVISOR) as supervisor:
        supervisor.post(
            "/match/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}
        ).raise_for_status()
        entry = supervisor.post(
            "/match/v1/hotlist",
            json={
                "plate": PLATE,
                "list_name": "stolen",
                "action": "stop and check",
                "reason": "stolen in Asse",
                "case_reference": "PV/2026/001",
            },
        )
        assert entry.status_code == 201, entry.text


def _push_frame(served: Served, seed: int) -> None:
    with served.client(Role.ADMIN) as client:
        sent = client.post(
            "/ingest/v1/frames",
            content=render_scene(PLATE, seed=seed),
            headers={
                "Authorization": "",
                "X-Camera-Key": served.camera_key,  # type: ignore[attr-defined]
                "X-Camera-Id": "cam-e40-in",
                "X-Captured-At": (datetime.now(UTC) - timedelta(seconds=2)).isoformat(),
                "Content-Type": "image/jpeg",
            },
        )
        assert sent.status_code == 202, sent.text


def _stored_by_access(served: Served) -> None:
    """Waits until access holds the hit of PLATE (it stores hits a moment after match raises them)."""
    with served.client(Role.OPERATOR) as client:
        deadline = time.monotonic() + 60
        while not [h for h in client.get("/access/v1/hits").json() if h["plate_listed"] == PLATE]:
            assert time.monotonic() < deadline, "the hit never reached access"
            time.sleep(0.2)


def _found_by_search(served: Served) -> int:
    with served.client(Role.INVESTIGATOR) as client:
        deadline = time.monotonic() + 180
        while True:
            page = client.get(
                "/access/v1/passages",
                params={
                    "plate": PLATE,
                    "purpose": "judicial",
                    "case_reference": "PV/setup",
                    "legal_basis": "setup",
                },
            )
            assert page.status_code == 200, page.text
            if page.json()["items"]:
                return len(page.json()["items"])
            assert time.monotonic() < deadline, "the frame never reached access"
            time.sleep(0.5)


def test_each_role_sees_only_its_pages(served: Served, browser: Browser) -> None:
    page = browser.page()
    for role in Role:
        sign_in(page, served.base_url, role)
        shown = [link.inner_text() for link in page.locator("nav a").all()]
        assert shown == [PAGE_NAMES[name] for name in pages_for(role)], role
        assert page.locator("#user").inner_text().startswith(f"dev-{role.value}")
        # A page of another role, asked for by its address, is not drawn.
        other = next(name for name in PAGE_NAMES if name not in pages_for(role))
        page.goto(f"{served.base_url}/#/{other}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Not for your role")
    assert pages_for(Role.OPERATOR) == ["live", "hotlists"]
    assert pages_for(Role.AUDITOR) == ["audit"]
    page.close()


def test_a_hotlisted_plate_pushed_as_a_frame_arrives_live_and_is_marked_a_false_alarm(
    served: Served, browser: Browser, shots: Path
) -> None:
    page = browser.page()
    sign_in(page, served.base_url, Role.OPERATOR, "op-jansen")
    expect(page.get_by_role("status").first).to_have_text("Live: new hits appear at the top.", timeout=30_000)
    _push_frame(served, seed=21)
    plate = page.locator("tbody button.plate", has_text=PLATE)
    plate.first.wait_for(timeout=180_000)
    expect(page.locator(".counts")).to_contain_text("open: 1")
    page.screenshot(path=str(shots / "live.png"))
    _stored_by_access(served)
    plate.first.click()
    expect(page.get_by_role("heading", name=f"Hit: {PLATE}")).to_be_focused()
    expect(page.locator(".detail .action")).to_have_text("stop and check")
    # The operator sees the hit's own crop and overview (access, each view audited).
    expect(page.locator(".detail").get_by_role("img", name=f"Plate crop of {PLATE}")).to_have_count(1)
    expect(page.locator(".detail").get_by_role("img", name=f"Overview image of {PLATE}")).to_have_count(1)
    page.get_by_label("false alarm").check()
    page.get_by_role("button", name="Record").click()
    # No reason: match refuses a false alarm without one, and the page says so.
    expect(page.get_by_role("alert")).to_contain_text("a false alarm needs a reason")
    page.get_by_label("Reason").fill("plate read 8 for B, another car")
    # The rates are match's counts of every verdict, asked again once this one is recorded.
    with page.expect_response("**/console/api/match/v1/hits/false-alarm-rates?*") as rates:
        page.get_by_role("button", name="Record").click()
    assert rates.value.status == 200
    expect(page.locator(".acked")).to_contain_text("false alarm by op-jansen")
    expect(page.locator("tbody tr").first).to_contain_text("false alarm")
    expect(page.locator(".rates table").first).to_contain_text("100%")
    expect(page.locator(".detail").get_by_role("img", name=f"Plate crop of {PLATE}")).to_have_count(1)
    page.screenshot(path=str(shots / "live-acknowledged.png"))
    with served.client(Role.OPERATOR) as client:
        (hit,) = [h for h in client.get("/match/v1/hits").json() if h["plate_listed"] == PLATE]
    assert (hit["ack_outcome"], hit["ack_reason"], hit["ack_by"]) == (
        "false_alarm",
        "plate read 8 for B, another car",
        "op-jansen",
    )
    # Each image seen was audited once (the redraw after the verdict asked for none again).
    with served.client(Role.AUDITOR) as auditor:
        deadline = time.monotonic() + 30
        while True:
            asked = {"actor": "op-jansen", "action": "view_image"}
            views = [
                (v["service"], v["outcome"]) for v in auditor.get("/audit/v1/events", params=asked).json()
            ]
            if len(views) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert views == [("access", "allowed")] * 2
    page.close()


def test_a_search_is_refused_without_a_purpose_allowed_with_one_and_seen_by_the_auditor(
    served: Served, browser: Browser, shots: Path
) -> None:
    _push_frame(served, seed=22)
    _found_by_search(served)
    page = browser.page()
    sign_in(page, served.base_url, Role.INVESTIGATOR, "insp-peeters")
    page.goto(f"{served.base_url}/#/search")
    page.get_by_label("Plate", exact=True).fill(PLATE)
    page.get_by_role("button", name="Search", exact=True).click()
    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text("The request is incomplete or invalid.")
    expect(refusal).to_contain_text("purpose")
    expect(page.locator("ol.passages")).to_have_count(0)
    page.get_by_label("Purpose").select_option("judicial")
    page.get_by_label("Case or PV number").fill(CASE)
    page.get_by_label("Legal basis").fill("art. 46/12 WPA")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator(".tier")).to_have_text("Legal period: first month: administrative or judicial")
    found = len(page.locator("ol.passages > li").all())
    # The answer's total: here all of it fits on the page.
    expect(page.locator("#results-title ~ .counts")).to_have_text(f"Passages 1 to {found} of {found}")
    first = page.locator("ol.passages > li").first
    expect(first.locator(".plate")).to_contain_text("1-ABC-234")
    first.locator("summary").click()
    first.get_by_role("button", name="Show plate").first.click()
    expect(first.get_by_role("img", name="Plate crop of")).to_have_count(1)
    page.screenshot(path=str(shots / "search.png"), full_page=True)

    sign_in(page, served.base_url, Role.AUDITOR, "coc-audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit")
    page.get_by_label("Case or PV number").fill(CASE)
    page.get_by_role("button", name="Show", exact=True).click()
    rows = page.locator("table.events tbody tr")
    expect(rows.filter(has_text="search").filter(has_text="insp-peeters")).to_have_count(1)
    expect(rows.filter(has_text="view_image").filter(has_text="insp-peeters")).to_have_count(1)
    page.get_by_role("button", name="Verify now").click()
    expect(page.locator(".verdict")).to_contain_text("Intact")
    page.screenshot(path=str(shots / "audit.png"), full_page=True)
    page.close()


def test_a_dpo_request_goes_from_registration_to_its_export(
    served: Served, browser: Browser, shots: Path
) -> None:
    _found_by_search(served)
    page = browser.page()
    sign_in(page, served.base_url, Role.DPO, "dpo-maes")
    page.goto(f"{served.base_url}/#/dpo")
    page.get_by_label("Requester").fill("J. Peeters (letter of 20 Nov.)")
    page.get_by_label("Plate", exact=True).fill("1-ABC-234")
    page.get_by_label("Place").fill("E40 Groot-Bijgaarden")
    page.get_by_role("button", name="Register", exact=True).click()
    state = page.locator(".detail dd.state")
    expect(state).to_have_text("registered")
    page.get_by_role("button", name="Locate the records").click()
    expect(state).to_have_text("located")
    page.get_by_label("Reasons").fill("art. 14 LED: the requester's own plate")
    page.get_by_role("button", name="Record the decision").click()
    expect(state).to_have_text("decided")
    page.screenshot(path=str(shots / "dpo.png"), full_page=True)
    with page.expect_download() as downloading:
        page.get_by_role("button", name="Execute: download the export").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(downloading.value.path()).read_bytes()))
    reads = json.loads(archive.read("reads.json"))
    assert reads and all(
        read["plate"] == PLATE for read in (reads if isinstance(reads, list) else reads["reads"])
    )
    expect(state).to_have_text("executed")
    page.get_by_role("button", name="Close the request").click()
    expect(state).to_have_text("closed")
    page.close()


def test_a_supervisor_imports_a_csv_and_sees_cameras_and_traffic(
    served: Served, browser: Browser, shots: Path
) -> None:
    page = browser.page()
    sign_in(page, served.base_url, Role.SUPERVISOR)
    page.goto(f"{served.base_url}/#/hotlists")
    bad = (
        "plate,list_name,reason,case_reference\n"
        "2XYZ987,stolen,stolen in Zellik,PV/2026/7\n"
        "!!,stolen,x,PV/2026/8\n"
    )
    page.get_by_label("CSV file").set_input_files(
        {"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()}
    )
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("table.errors caption")).to_have_text("Refused lines: 1")
    expect(page.locator("table.errors tbody tr")).to_contain_text("3")
    good = bad.splitlines()[0] + "\n" + bad.splitlines()[1] + "\n"
    page.get_by_label("CSV file").set_input_files(
        {"name": "good.csv", "mimeType": "text/csv", "buffer": good.encode()}
    )
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator(".ok")).to_contain_text("1 entries imported into: stolen")
    expect(page.locator("table").nth(1)).to_contain_text("2XYZ987")
    page.screenshot(path=str(shots / "hotlists.png"), full_page=True)
    page.goto(f"{served.base_url}/#/cameras")
    expect(page.locator("figure.map figcaption")).to_contain_text("Cameras on the map: 2 of 2.")
    expect(page.locator("figure.map figcaption")).to_contain_text("Plain background")
    expect(page.locator("svg .marker")).to_have_count(2)
    page.screenshot(path=str(shots / "cameras.png"), full_page=True)
    page.goto(f"{served.base_url}/#/traffic")
    csv = page.get_by_role("link", name="Download as CSV")
    expect(csv).to_have_attribute("href", re.compile("format=csv"))
    page.locator("svg.chart").wait_for()
    page.screenshot(path=str(shots / "traffic.png"), full_page=True)
    page.close()


def test_the_page_speaks_dutch_and_french_per_user(served: Served, browser: Browser, shots: Path) -> None:
    page = browser.page()
    sign_in(page, served.base_url, Role.SUPERVISOR, "sup-dubois")
    page.get_by_label("Language").select_option("nl")
    expect(page.locator("nav a")).to_have_text(["Live hits", "Signaleringslijsten", "Camera's", "Verkeer"])
    assert page.evaluate("document.documentElement.lang") == "nl"
    expect(page.locator("#user")).to_contain_text("Supervisor · zone 5344")
    page.reload()
    expect(page.get_by_role("link", name="Verkeer")).to_be_visible()  # kept for this user
    page.goto(f"{served.base_url}/#/hotlists")
    expect(page.get_by_role("heading", level=1)).to_have_text("Signaleringslijsten")
    page.get_by_label("Taal").select_option("fr")
    expect(page.locator("nav a")).to_have_text(
        ["Alertes en direct", "Listes de signalement", "Caméras", "Trafic"]
    )
    page.goto(f"{served.base_url}/#/live")
    expect(page.locator(".counts")).to_contain_text("Alertes :")
    # Dates the Belgian French way (day first), on the zone's clock.
    with served.client(Role.OPERATOR) as client:
        newest = client.get("/match/v1/hits", params={"limit": 1}).json()[0]["captured_at"]
    day = datetime.fromisoformat(newest).astimezone(ZoneInfo("Europe/Brussels"))
    expect(page.locator("tbody tr").first).to_contain_text(f"{day.day}/{day.month}/{day:%y} ")
    page.screenshot(path=str(shots / "live-fr.png"))
    page.get_by_label("Langue").select_option("en")
    page.close()


def test_the_live_list_stays_paged_with_10000_hits(served: Served, browser: Browser) -> None:
    now = datetime.now(UTC)
    events = "".join(
        f"id: h{n}\nevent: hit\ndata: "
        + json.dumps(
            {
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
            }
        )
        + "\n\n"
        for n in range(10_000)
    )

    def stream(route: Route) -> None:
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=events)

    page = browser.page()
    page.route("**/console/api/match/v1/hits/stream*", stream)
    sign_in(page, served.base_url, Role.OPERATOR)
    expect(page.locator(".counts")).to_contain_text("Hits: 10,00", timeout=60_000)
    assert page.locator("table.hits tbody tr").count() <= 50
    last = page.get_by_role("button", name="Oldest")
    last.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".pager span")).to_have_text("Page 201 of 201")
    # The keyboard user's focus stays in the pager, on the button that still leads somewhere.
    expect(page.get_by_role("button", name="Previous")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".pager span")).to_have_text("Page 200 of 201")
    assert page.locator("table.hits tbody tr").count() == 50
    page.close()


def test_no_page_asks_any_host_but_the_platform(served: Served, browser: Browser) -> None:
    page = browser.page()
    for service in ("ingest", "match", "access", "audit", "detect"):
        page.goto(f"{served.base_url}/{service}/docs")
        page.locator(".swagger-ui .info").wait_for()
        expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    page.goto(f"{served.base_url}/access/redoc")
    page.locator("redoc .api-content, .redoc-wrap").first.wait_for()
    page.close()
    own = urlsplit(served.base_url).netloc
    assert browser.requests, "nothing was recorded"
    elsewhere = {
        url
        for url in browser.requests
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).netloc != own
    }
    # ReDoc asks its vendor's CDN for its logo whatever its options say; the docs page's CSP stops
    # that in the browser (it never leaves), and nothing else is asked of any other host.
    assert elsewhere - set(browser.blocked) == set()
    assert elsewhere <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}
