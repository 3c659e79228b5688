"""A minimal headless-Chromium driver over the DevTools protocol (CDP), with no dependency.

Chromium is started with ``--remote-debugging-pipe``: it reads protocol commands on file
descriptor 3 and writes replies and events on descriptor 4, as NUL-terminated JSON messages. No
websocket library, no driver binary and no network port are involved. Every host name resolves
to nothing (``--host-resolver-rules``), so a page can never reach another machine; the requests
it *attempts* are still reported (``Page.requests``) and the browser test asserts there are none
but ``file:`` and ``data:`` ones.

Used by ``tests/test_browser.py``; also a small command line for screenshots of the built book::

    python tools/cdp.py _build/html/notebooks/01_information/01_infonce_demi.html chapter.png
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str | None:
    """The Chromium executable: ``$REPTUTOR_CHROMIUM``, else Debian's ``/usr/bin/chromium``."""
    env = os.environ.get("REPTUTOR_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for path in CHROMIUM_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("chromium")


class CDPError(RuntimeError):
    pass


class Browser:
    """One headless Chromium process; ``page()`` opens a tab. Use as a context manager."""

    def __init__(self, executable: str | None = None, *, width: int = 1280, height: int = 900,
                 timeout: float = 60.0) -> None:
        exe = executable or find_chromium()
        if exe is None:
            raise FileNotFoundError("no Chromium found (install Debian's chromium package)")
        self.timeout = timeout
        self.width, self.height = width, height
        self._profile = tempfile.mkdtemp(prefix="reptutor-chromium-")
        to_child_r, self._to_child = os.pipe()      # we write commands, Chromium reads fd 3
        self._from_child, from_child_w = os.pipe()  # Chromium writes fd 4, we read
        args = [
            "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-sync",
            "--disable-component-update", "--disable-default-apps", "--mute-audio",
            "--metrics-recording-only", "--disable-breakpad", "--hide-scrollbars",
            "--allow-file-access-from-files", "--force-device-scale-factor=1",
            f"--window-size={width},{height}", f"--user-data-dir={self._profile}",
            # nothing resolves: no request can leave the machine, attempted ones are still logged
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "about:blank",
        ]
        # posix_spawn puts our pipe ends on descriptors 3 and 4, where Chromium expects them
        # (every other descriptor of this process is close-on-exec, so none leaks).
        self._err_path = Path(self._profile) / "stderr.txt"
        err_fd = os.open(self._err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null_fd = os.open(os.devnull, os.O_RDWR)
        try:
            self.pid = os.posix_spawn(exe, [exe, *args], dict(os.environ), file_actions=[
                (os.POSIX_SPAWN_DUP2, null_fd, 0), (os.POSIX_SPAWN_DUP2, null_fd, 1),
                (os.POSIX_SPAWN_DUP2, err_fd, 2), (os.POSIX_SPAWN_DUP2, to_child_r, 3),
                (os.POSIX_SPAWN_DUP2, from_child_w, 4)])
        finally:
            for fd in (to_child_r, from_child_w, err_fd, null_fd):
                os.close(fd)
        self.returncode: int | None = None
        self._buf = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.version = self.call("Browser.getVersion")

    # ------------------------------------------------------------------ protocol
    def _send(self, method: str, params: dict | None, session: str | None) -> int:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self._to_child, data)
            data = data[n:]
        return self._next_id

    def _read_message(self, deadline: float) -> dict | None:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._from_child], [], [], min(left, 1.0))
            if not ready:
                if self.poll() is not None:
                    raise CDPError(f"Chromium exited with {self.returncode}: {self.stderr()[-2000:]}")
                continue
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                self.wait(5)
                raise CDPError(f"Chromium closed the protocol pipe: {self.stderr()[-2000:]}")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float | None = None) -> dict:
        """Send one command and wait for its reply; events read meanwhile go to ``events``."""
        msg_id = self._send(method, params, session)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            msg = self._read_message(deadline)
            if msg is None:
                raise CDPError(f"no reply to {method} within {timeout or self.timeout} s")
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise CDPError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def pump(self, seconds: float) -> None:
        """Read events for ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            msg = self._read_message(deadline)
            if msg is None:
                return
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, session: str | None, timeout: float | None = None,
                   since: int = 0) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        seen = since
        while True:
            for ev in self.events[seen:]:
                if ev["method"] == method and ev.get("sessionId") == session:
                    return ev
            seen = len(self.events)
            msg = self._read_message(deadline)
            if msg is None:
                raise CDPError(f"no {method} event within {timeout or self.timeout} s")
            if "method" in msg:
                self.events.append(msg)

    def page(self) -> "Page":
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, target, session)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.returncode

    def stderr(self) -> str:
        try:
            return self._err_path.read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        try:
            if self.poll() is None:
                try:
                    self._send("Browser.close", None, None)
                except OSError:
                    pass
                if self.wait(10) is None:
                    os.kill(self.pid, 9)
                    self.wait(10)
        finally:
            for fd in (self._to_child, self._from_child):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Page:
    """One tab: load a URL, evaluate JavaScript, take screenshots, list its requests."""

    def __init__(self, browser: Browser, target: str, session: str) -> None:
        self.b, self.target, self.session = browser, target, session
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", {
            "width": browser.width, "height": browser.height, "deviceScaleFactor": 1,
            "mobile": False})
        self._mark = len(self.b.events)

    def call(self, method: str, params: dict | None = None, timeout: float | None = None) -> dict:
        return self.b.call(method, params, self.session, timeout)

    def goto(self, url: str, timeout: float | None = None) -> None:
        """Load ``url`` and wait for its load event (events from earlier loads are dropped)."""
        self._mark = len(self.b.events)
        self.call("Page.navigate", {"url": url})
        self.b.wait_event("Page.loadEventFired", self.session, timeout, since=self._mark)

    def evaluate(self, expression: str, *, await_promise: bool = False,
                 timeout: float | None = None) -> Any:
        res = self.call("Runtime.evaluate", {
            "expression": expression, "returnByValue": True, "awaitPromise": await_promise},
            timeout=timeout)
        if "exceptionDetails" in res:
            raise CDPError(f"JavaScript error in {expression[:80]!r}: {res['exceptionDetails']}")
        return res.get("result", {}).get("value")

    def _events(self, method: str) -> list[dict]:
        return [e["params"] for e in self.b.events[self._mark:]
                if e["method"] == method and e.get("sessionId") == self.session]

    def requests(self) -> list[str]:
        """URLs this page requested since the last ``goto`` (sent or attempted)."""
        self.b.pump(0.2)
        return [p["request"]["url"] for p in self._events("Network.requestWillBeSent")]

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads since the last ``goto``."""
        self.b.pump(0.2)
        out = [f"exception: {p['exceptionDetails'].get('exception', {}).get('description') or p['exceptionDetails'].get('text')}"
               for p in self._events("Runtime.exceptionThrown")]
        out += ["console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                            for a in p.get("args", []))
                for p in self._events("Runtime.consoleAPICalled") if p.get("type") == "error"]
        out += [f"log {p['entry'].get('source')}: {p['entry'].get('text')} {p['entry'].get('url', '')}"
                for p in self._events("Log.entryAdded") if p["entry"].get("level") == "error"]
        return out

    def screenshot(self, path: str | os.PathLike | None = None, *, full_page: bool = True) -> bytes:
        """A PNG of the page (the whole document when ``full_page``), written to ``path`` if given."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            w, h = self.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": w, "height": min(h, 16000), "scale": 1})
        data = base64.b64decode(self.call("Page.captureScreenshot", params, timeout=120)["data"])
        if path is not None:
            Path(path).write_bytes(data)
        return data


def wait_for_mathjax(page: Page, timeout: float = 60.0) -> bool:
    """Wait until MathJax (if the page loads it) has typeset the page; True if it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page.evaluate(
            "typeof MathJax === 'undefined' ? 'none' : "
            "(MathJax.startup && MathJax.startup.promise ? 'ready' : 'loading')")
        if state == "ready":
            page.evaluate("MathJax.startup.promise.then(() => true)", await_promise=True,
                          timeout=timeout)
            return True
        if state == "none" and page.evaluate(
                "!document.querySelector('script[src*=\"mathjax\" i], script[src*=\"tex-\"]')"):
            return False
        time.sleep(0.2)
    raise CDPError("MathJax did not finish typesetting")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    src, out = Path(argv[0]).resolve(), argv[1]
    width = int(argv[2]) if len(argv) > 2 else 1280
    with Browser(width=width) as browser:
        page = browser.page()
        page.goto(src.as_uri())
        wait_for_mathjax(page)
        page.b.pump(1.0)
        page.screenshot(out)
        left = [u for u in page.requests() if not u.startswith(("file:", "data:"))]
        print(f"wrote {out}; requests off the machine: {left or 'none'}; errors: {page.errors() or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
