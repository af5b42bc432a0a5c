"""For the console's browser tests and its bench (needs the dev group's playwright): the platform
served for real (embedded, uvicorn on a free loopback port, in a thread) and Debian's Chromium
driven by Playwright, with every request the browser makes recorded. No browser is
downloaded: Playwright is pointed at /usr/bin/chromium (scripts/tools.sh installs it)."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from playwright.sync_api import BrowserContext, Page, sync_playwright

from anpr_core.auth import Role
from schild.embedded import EmbeddedPlatform, build_platform, running

CHROMIUM = os.environ.get("SCHILD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Served:
    platform: EmbeddedPlatform
    base_url: str

    def token(self, role: Role, subject: str = "setup") -> str:
        return self.platform.issuer.issue(subject, role)

    def client(self, role: Role) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.token(role)}"}, timeout=60.0
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def served_platform(data_dir: Path, **build: Any) -> Iterator[Served]:
    """The embedded platform under uvicorn, in a thread with its own event loop."""
    platform = build_platform(data_dir, **build)
    port = _free_port()
    config = uvicorn.Config(platform.app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def serve() -> None:
        async def main() -> None:
            async with running(platform):
                await server.serve()

        try:
            asyncio.run(main())
        except BaseException as error:  # reported to the test below
            failure.append(error)

    thread = threading.Thread(target=serve, name="platform", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if failure or not thread.is_alive():
            raise RuntimeError(f"the platform did not start: {failure}")
        if time.monotonic() > deadline:
            raise TimeoutError("the platform did not start in 120 s")
        time.sleep(0.05)
    try:
        yield Served(platform, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@dataclass
class Browser:
    context: BrowserContext
    requests: list[str] = field(default_factory=list)
    # Requests the page's Content-Security-Policy stopped in the browser: they never left it.
    blocked: list[str] = field(default_factory=list)

    def page(self) -> Page:
        page = self.context.new_page()
        page.set_default_timeout(30_000)
        return page


@contextmanager
def chromium(locale: str = "en-GB") -> Iterator[Browser]:
    """Chromium with a fresh profile, recording the URL of every request any page of it makes."""
    with tempfile.TemporaryDirectory(prefix="schild-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            locale=locale,
            timezone_id="Europe/Brussels",
            viewport={"width": 1280, "height": 860},
            accept_downloads=True,
        )
        browser = Browser(context)
        context.on("request", lambda request: browser.requests.append(request.url))
        context.on(
            "requestfailed",
            lambda request: browser.blocked.append(request.url) if request.failure == "csp" else None,
        )
        try:
            yield browser
        finally:
            context.close()


def sign_in(page: Page, base_url: str, role: Role, subject: str = "") -> None:
    """The development sign-in, as a person does it: the role's radio button, then the button."""
    page.context.clear_cookies()
    page.goto(f"{base_url}/")
    page.get_by_role("heading", name="Development sign-in").wait_for()
    page.locator(f"#role-{role.value}").check()
    if subject:
        page.get_by_label("Your name (optional)").fill(subject)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.locator("nav a").first.wait_for()
