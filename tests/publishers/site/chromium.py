"""Headless Chromium driven over the Chrome DevTools Protocol, for the archive's browser test.

Debian's ``chromium`` package and aiohttp's WebSocket client (already installed with
discord.py) are all it takes: no browser download and no extra package. Playwright would
bring a 40 MB driver of its own to do the same few things: open a page, evaluate a line of
JavaScript, take a screenshot, list what the page requested, emulate a phone or a desktop in
the light or the dark scheme, and answer image requests to other hosts from the test.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

TIMEOUT = 30.0
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


REPO = Path(__file__).resolve().parents[3]


def artifacts() -> Path:
    """Where the browser tests leave their screenshots: $SHORTSCIENCE_TEST_ARTIFACTS, else
    the repository's git-ignored test-artifacts/."""
    folder = Path(os.environ.get("SHORTSCIENCE_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def find_chromium() -> str | None:
    """SHORTSCIENCE_CHROMIUM, else the first Chromium on PATH."""
    chosen = os.environ.get("SHORTSCIENCE_CHROMIUM")
    if chosen:
        return shutil.which(chosen) or (chosen if Path(chosen).is_file() else None)
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


class Page:
    """One tab: commands by id, with the events it saw (requests) kept for the test."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.requested: list[str] = []
        self.images: dict[str, bytes] = {}
        """What an intercepted image request is answered with (see :meth:`serve_images`)."""

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        await self.socket.send_str(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = await asyncio.wait_for(self.socket.receive(), TIMEOUT)
            if message.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"DevTools closed the connection: {message.type}")
            data = json.loads(message.data)
            if data.get("method") == "Network.requestWillBeSent":
                self.requested.append(data["params"]["request"]["url"])
            if data.get("method") == "Fetch.requestPaused":
                await self._answer(data["params"])
            if data.get("method") == "Target.attachedToTarget":
                await self._watch_worker(data["params"]["sessionId"])
            if data.get("id") == number:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return dict(data.get("result", {}))

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        for _ in range(int(TIMEOUT * 10)):
            if await self.evaluate("document.readyState") == "complete":
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{url} did not finish loading")

    async def evaluate(self, expression: str) -> Any:
        """The value of ``expression``; a promise is awaited and its value returned."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def screenshot(self, target: Path, *, full_page: bool = False) -> None:
        """The viewport, or with ``full_page`` the whole page as tall as it is."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        if full_page:
            size = (await self.send("Page.getLayoutMetrics"))["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
            params["clip"]["scale"] = 1
        shot = await self.send("Page.captureScreenshot", **params)
        target.write_bytes(base64.b64decode(shot["data"]))

    async def emulate(self, width: int, height: int, *, mobile: bool, dark: bool) -> None:
        """A phone or a desktop window, in the light or the dark colour scheme: what the
        pages' media queries and the viewport meta tag answer to."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )
        scheme = "dark" if dark else "light"
        await self.send(
            "Emulation.setEmulatedMedia",
            features=[{"name": "prefers-color-scheme", "value": scheme}],
        )

    async def serve_images(self, images: dict[str, bytes]) -> None:
        """Answer every image request to another host with ``images[url]`` (or a 404) instead
        of the network, so a test sees a summary's figure laid out without going online;
        the requests are still listed in :attr:`requested`."""
        self.images = images
        await self.send("Fetch.enable", patterns=[{"urlPattern": "http*", "resourceType": "Image"}])

    async def follow_workers(self) -> None:
        """List what the page's workers request too (Pagefind searches in one): each worker is
        held at its start until its requests are watched."""
        await self.send(
            "Target.setAutoAttach", autoAttach=True, waitForDebuggerOnStart=True, flatten=True
        )

    async def _watch_worker(self, session: str) -> None:
        for method in ("Network.enable", "Runtime.runIfWaitingForDebugger"):
            message = {"id": next(self.ids), "sessionId": session, "method": method}
            await self.socket.send_str(json.dumps(message))

    async def _answer(self, paused: dict[str, Any]) -> None:
        body = self.images.get(paused["request"]["url"])
        params: dict[str, Any] = {"requestId": paused["requestId"]}
        if body is None:
            params.update(responseCode=404, body="")
        else:
            params.update(
                responseCode=200,
                responseHeaders=[{"name": "Content-Type", "value": "image/png"}],
                body=base64.b64encode(body).decode("ascii"),
            )
        message = {"id": next(self.ids), "method": "Fetch.fulfillRequest", "params": params}
        await self.socket.send_str(json.dumps(message))


class Chromium:
    """``async with Chromium(path) as page``: a headless browser with one tab, then gone."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.process: subprocess.Popen[bytes] | None = None
        self.profile = tempfile.TemporaryDirectory(
            prefix="shortscience-chromium-", ignore_cleanup_errors=True
        )  # a helper process of the browser may still be writing as it goes
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Page:
        profile = Path(self.profile.name)
        self.process = subprocess.Popen(  # a browser the test found on PATH
            [
                self.executable,
                "--headless=new",
                "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "--window-size=1000,1400",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        for _ in range(int(TIMEOUT * 10)):
            if port_file.is_file() and port_file.read_text().strip():
                break
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            await asyncio.sleep(0.1)
        else:
            raise TimeoutError("chromium did not open its DevTools port")
        port = int(port_file.read_text().split()[0])
        self.session = aiohttp.ClientSession()
        async with self.session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        page_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        socket = await self.session.ws_connect(page_url, max_msg_size=0)
        page = Page(socket)
        await page.send("Page.enable")
        await page.send("Network.enable")
        return page

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.profile.cleanup()


AXE_RUN = """
axe.run(document, {resultTypes: ['violations']}).then(result => result.violations.map(v => ({
  id: v.id, impact: v.impact, help: v.help,
  nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)
})))
"""


async def serious_axe_findings(page: Page, axe_core: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the open page."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.evaluate(axe_core)
    found = await page.evaluate(AXE_RUN)
    return [v for v in found if v["impact"] in ("serious", "critical")]
