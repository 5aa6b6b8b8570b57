"""Headless Chromium driven over the DevTools protocol on a pipe, for tests that open generated pages.

``--remote-debugging-pipe`` makes Chromium read protocol messages from fd 3 and write them to fd 4,
NUL-terminated JSON, so no websocket client and no TCP port are needed. The browser runs with a fresh
empty profile and every background service that could reach the network switched off; the tests
still record every request the page makes, so "nothing was fetched" is observed, not assumed.

Also: a small PNG decoder (zlib + the five PNG row filters, numpy for speed) so screenshots can be
checked for content without an imaging library.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # tests run as root, where the sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]

# Not a timing assertion: only a bound so a wedged browser fails the test instead of hanging CI.
PROTOCOL_TIMEOUT_S = 120.0


def chromium_executable() -> Optional[str]:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageVisit:
    """What happened while one page was open: every request, console message and exception."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


class Chromium:
    """One headless browser process, one page, spoken to over the DevTools pipe."""

    def __init__(self, executable: str, width: int = 1200, height: int = 900) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="newswire-chromium-"))
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_pipes() -> None:  # in the child: the protocol expects its pipe ends at fds 3 and 4
            high_r, high_w = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=wire_pipes, pass_fds=(3, 4),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.width, self.height = width, height
        self.session: Optional[str] = None

    # -- protocol ---------------------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer from Chromium over the DevTools pipe")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the DevTools pipe: {self._stderr_tail()}")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def _stderr_tail(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return "(still running)"
        return self.process.stderr.read().decode("utf-8", "replace")[-2000:]

    def call(self, method: str, params: Optional[dict] = None, session: Optional[str] = None) -> dict:
        """Send one command and return its result; events arriving meanwhile are kept in ``events``."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + PROTOCOL_TIMEOUT_S
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def page_call(self, method: str, params: Optional[dict] = None) -> dict:
        return self.call(method, params, session=self.session)

    def wait_for_event(self, method: str) -> dict:
        deadline = time.monotonic() + PROTOCOL_TIMEOUT_S
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event["method"] == method and event.get("sessionId") == self.session:
                    return event
            seen = len(self.events)
            reply = self._read_message(deadline)
            if "method" in reply:
                self.events.append(reply)

    # -- pages ------------------------------------------------------------------------------------
    def open(self, url: str) -> PageVisit:
        """Load ``url`` in a new page with request and console recording on; returns what was recorded."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.page_call(f"{domain}.enable")
        self.page_call("Emulation.setDeviceMetricsOverride",
                       {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        self.events.clear()
        self.page_call("Page.navigate", {"url": url})
        self.wait_for_event("Page.loadEventFired")
        return self.visit()

    def visit(self) -> PageVisit:
        """Requests and console errors recorded on the page so far."""
        visit = PageVisit()
        for event in self.events:
            if event.get("sessionId") != self.session:
                continue
            method, params = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent":
                visit.requests.append(params["request"]["url"])
            elif method == "Runtime.exceptionThrown":
                visit.console_errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                visit.console_errors.append(json.dumps(params.get("args", []))[:500])
            elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
                visit.console_errors.append(f"{params['entry'].get('source')}: {params['entry'].get('text')}")
        return visit

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression evaluated in the page."""
        result = self.page_call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, full_page: bool = True) -> bytes:
        """PNG of the viewport, or of the whole page (the viewport is grown to the page's height)."""
        if full_page:
            size = self.page_call("Page.getLayoutMetrics")["cssContentSize"]
            self.page_call("Emulation.setDeviceMetricsOverride",
                           {"width": self.width, "height": int(size["height"]) + 1, "deviceScaleFactor": 1,
                            "mobile": False})
        import base64

        return base64.b64decode(self.page_call("Page.captureScreenshot", {"format": "png"})["data"])

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                self.call("Browser.close")
                self.process.wait(timeout=PROTOCOL_TIMEOUT_S)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            for fd in (self._to_browser, self._from_browser):
                try:
                    os.close(fd)
                except OSError:
                    pass
            if self.process.stderr:
                self.process.stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- PNG ------------------------------------------------------------------------------------------
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (8-bit, no palette)


def decode_png(data: bytes) -> np.ndarray:
    """Pixels of an 8-bit, non-interlaced greyscale/RGB(A) PNG as a (height, width, channels) array."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour, interlace = header[8], header[9], header[12]
    if depth != 8 or colour not in _CHANNELS or interlace != 0:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    bpp = _CHANNELS[colour]
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:  # None
            row = line
        elif kind == 1:  # Sub: a running sum per channel
            row = np.cumsum(line.reshape(width, bpp), axis=0).reshape(stride) & 0xFF
        elif kind == 2:  # Up
            row = (line + previous) & 0xFF
        elif kind in (3, 4):  # Average, Paeth: each byte depends on the one to its left
            row = np.zeros(stride, dtype=np.int32)
            prev = previous.tolist()
            values = line.tolist()
            result = row.tolist()
            for i in range(stride):
                left = result[i - bpp] if i >= bpp else 0
                up = prev[i]
                if kind == 3:
                    result[i] = (values[i] + ((left + up) >> 1)) & 0xFF
                else:
                    up_left = prev[i - bpp] if i >= bpp else 0
                    p = left + up - up_left
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                    pred = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                    result[i] = (values[i] + pred) & 0xFF
            row = np.array(result, dtype=np.int32)
        else:
            raise ValueError(f"bad PNG filter type {kind}")
        out[y] = row
        previous = row
    return out.reshape(height, width, bpp)


def main(argv: Optional[list[str]] = None) -> int:
    """``python tests/support/headless_chromium.py PAGE.html OUT.png``: a full-page screenshot (docs/report.png)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("page", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1100)
    args = parser.parse_args(argv)
    executable = chromium_executable()
    if not executable:
        parser.error("chromium is not installed (apt-get install -y chromium)")
    with Chromium(executable, width=args.width) as browser:
        visit = browser.open(args.page.resolve().as_uri())
        args.out.write_bytes(browser.screenshot())
    print(f"wrote {args.out}: requests {visit.requests}, console errors {visit.console_errors}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
