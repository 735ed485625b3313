"""Headless Chromium driven over the Chrome DevTools Protocol, for the archive's browser test.

Debian's ``chromium`` package and aiohttp's WebSocket client (already installed with
discord.py) are all it takes: no browser download and no extra package. Playwright would
bring a 40 MB driver of its own to do the same few things: open a page, evaluate a line of
JavaScript, take a screenshot and list what the page requested.
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
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def screenshot(self, target: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        target.write_bytes(base64.b64decode(shot["data"]))


class Chromium:
    """``async with Chromium(path) as page``: a headless browser with one tab, then gone."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.process: subprocess.Popen[bytes] | None = None
        self.profile = tempfile.TemporaryDirectory(prefix="shortscience-chromium-")
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
