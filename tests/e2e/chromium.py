"""A small driver for Debian's headless Chromium over the DevTools protocol, for the browser tests.

The protocol runs over a pipe (`--remote-debugging-pipe`: Chromium reads commands on fd 3 and
writes answers and events on fd 4, NUL-terminated JSON), so nothing is downloaded at test time,
no WebDriver binary is needed and no debugging port is opened on the shared machine. Every page
records what the browser saw, which the tests assert on:

  * requests: every URL the page asked for (documents, scripts, styles, images, fetches);
  * failed: requests that failed (network error, blocked by CSP) or answered 4xx/5xx;
  * errors: console.error/assert calls, uncaught exceptions and the browser's own error log
    entries (CSP violations, failed loads).

Chromium runs as root here, so it needs --no-sandbox; it is kept small for a shared 2-core
machine (nice 10, one renderer, no GPU, a 256 MB JavaScript heap, no background networking).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import pathlib
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--mute-audio",
         "--disable-features=Translate,MediaRouter,OptimizationHints", "--renderer-process-limit=1",
         "--js-flags=--max-old-space-size=256", "--window-size=1280,900", "--remote-debugging-pipe")


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def short(text: str, limit: int = 300) -> str:
    """Error texts can carry whole data: URLs; the start says what happened."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless Chromium process, spoken to over the DevTools pipe."""

    def __init__(self, binary: str, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="chromium-e2e-")
        commands_read, self._commands = os.pipe()
        self._answers, answers_write = os.pipe()
        # fd 3 and 4 of the child are the two pipe ends (bash moves them there, then execs);
        # Chromium's own log (D-Bus noise on a server) goes to a file, read on failure.
        launch = f'exec nice -n 10 "$0" "$@" 3<&{commands_read}- 4>&{answers_write}-'
        self.log = pathlib.Path(self.profile) / "chromium.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["bash", "-c", launch, binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                pass_fds=(commands_read, answers_write), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        os.close(commands_read)
        os.close(answers_write)
        self._ids = itertools.count(1)
        self._waiting: dict[int, queue.Queue] = {}
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="chromium-devtools", daemon=True)
        self._reader.start()
        self.version = self.send("Browser.getVersion")["product"]

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._answers, "rb", buffering=0) as answers:
            while chunk := answers.read(65536):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for raw in messages:
                    self._dispatch(json.loads(raw))
        with self._lock:  # the browser is gone: wake every waiting command
            for waiting in self._waiting.values():
                waiting.put({"error": {"message": "Chromium exited"}})

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            with self._lock:
                waiting = self._waiting.pop(message["id"], None)
            if waiting is not None:
                waiting.put(message)
            return
        for listener in list(self._listeners):
            listener(message)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict:
        command_id = next(self._ids)
        answer: queue.Queue = queue.Queue(1)
        with self._lock:
            self._waiting[command_id] = answer
        message = {"id": command_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._commands, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise BrowserError(f"{method}: Chromium exited: {self.log_tail()}") from None
        try:
            reply = answer.get(timeout=self.timeout)
        except queue.Empty:
            raise BrowserError(f"{method}: no answer from Chromium in {self.timeout:.0f}s") from None
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def log_tail(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return " | ".join(line for line in lines[-20:] if "dbus" not in line)

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, target, session)
        self._listeners.append(page.on_event)
        for domain in ("Page", "Runtime", "Network", "Log"):
            page.send(f"{domain}.enable")
        # a headless tab is never the focused window: without this, focus events never fire
        page.send("Emulation.setFocusEmulationEnabled", {"enabled": True})
        return page

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(OSError):
            os.close(self._commands)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """One tab: navigation, JavaScript, screenshots, and what it requested and logged."""

    def __init__(self, browser: Chromium, target: str, session: str) -> None:
        self.browser, self.target, self.session = browser, target, session
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self._urls: dict[str, str] = {}
        self._loaded = threading.Event()

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict:
        return self.browser.send(method, params, self.session)

    def on_event(self, message: dict[str, Any]) -> None:
        if message.get("sessionId") != self.session:
            return
        method, params = message["method"], message.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            self._urls[params["requestId"]] = url
            self.requests.append(url)
        elif method == "Network.loadingFailed":
            url = self._urls.get(params["requestId"], "?")
            reason = params.get("blockedReason") or params.get("corsErrorStatus") or params.get("errorText")
            self.failed.append(short(f"{url}: {reason}"))
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            self.failed.append(short(f"{params['response']['url']}: HTTP {params['response']['status']}"))
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params["args"])
            self.errors.append(short(f"console.{params['type']}: {text}"))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(short(f"uncaught: {details.get('exception', {}).get('description') or details['text']}"))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.errors.append(short(f"{entry['source']}: {entry['text']} {entry.get('url', '')}".strip()))
        elif method == "Page.loadEventFired":
            self._loaded.set()

    def goto(self, url: str) -> None:
        self._loaded.clear()
        answer = self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise BrowserError(f"{url}: {answer['errorText']}")
        if not self._loaded.wait(self.browser.timeout):
            raise BrowserError(f"{url}: no load event in {self.browser.timeout:.0f}s")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited when it is a promise)."""
        answer = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            problem = details.get("exception", {}).get("description") or details["text"]
            raise BrowserError(f"{expression[:80]}: {problem}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float | None = None) -> Any:
        """Polls a JavaScript expression until it is truthy; its value."""
        deadline = time.monotonic() + (timeout or self.browser.timeout)
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {what} ({expression[:120]})")
            time.sleep(0.25)

    def click(self, element: str) -> None:
        """A real mouse click on the element a JavaScript expression finds (near its top left)."""
        x, y = self.evaluate(f"""(() => {{ const box = ({element}).getBoundingClientRect();
            return [box.x + Math.min(box.width / 2, 40), box.y + Math.min(box.height / 2, 10)]; }})()""")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def type(self, text: str) -> None:
        """Text typed into the focused element (as an input method commits it)."""
        self.send("Input.insertText", {"text": text})

    def screenshot(self, path: pathlib.Path) -> pathlib.Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self.browser._listeners.remove(self.on_event)
        with contextlib.suppress(BrowserError):
            self.browser.send("Target.closeTarget", {"targetId": self.target})


@contextlib.contextmanager
def browser(binary: str) -> Iterator[Chromium]:
    chromium = Chromium(binary)
    try:
        yield chromium
    finally:
        chromium.close()
