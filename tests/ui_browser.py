"""Helpers that drive the chat UI in a real browser; shared by tests/frontends/test_ui.py and docs/screenshots.py.

Playwright drives Debian's chromium (``apt-get install chromium``); ``playwright install`` is never
needed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, Playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
BOT = '#chat [data-testid="bot"]'
USER = '#chat [data-testid="user"]'
DONE = ".ta-copy-bar, .ta-sources, .ta-related, .ta-error, .ta-compare"
"""Inside a bot message once the turn is complete: its copy bar (every finished answer has one),
sources, related reading, an error, or the columns of a comparison."""

# Timestamps (performance.now) of the Enter key, the first answer text, and the finished turn.
_TIMER = """([bot, doneSelector]) => {
  const t = window.__turn = {enter: null, first: null, done: null, partial: 0};
  const before = document.querySelectorAll(bot).length;
  document.querySelector('#question textarea').addEventListener('keydown', e => {
    if (e.key === 'Enter' && t.enter === null) t.enter = performance.now();
  });
  const check = () => {
    const bots = document.querySelectorAll(bot);
    if (bots.length <= before) return;
    const last = bots[bots.length - 1];
    const done = last.querySelector(doneSelector);
    if (t.first === null && last.innerText.trim()) t.first = performance.now();
    if (!done && last.innerText.trim()) t.partial += 1;
    if (done && t.done === null) { t.done = performance.now(); observer.disconnect(); }
  };
  const observer = new MutationObserver(check);
  observer.observe(document.querySelector('#chat'), {subtree: true, childList: true, characterData: true});
}"""


@dataclass
class Turn:
    """One question asked in the browser: the finished bot message and how long it took."""

    message: Locator
    first_text_s: float
    done_s: float
    partial_renders: int
    """DOM updates seen while the answer text was visible but its sources were not yet."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, timeout: float = 240.0, process: subprocess.Popen[str] | None = None) -> None:
    """Wait for ``url`` to answer 200; fail early if the server ``process`` has exited."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"the server exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing answered at {url} within {timeout:.0f} s")
        time.sleep(0.5)


@dataclass
class Served:
    """A running ``assistant serve``: its URL and process, and once it has stopped, its output."""

    url: str
    port: int
    process: subprocess.Popen[str]
    output: str = ""


@contextmanager
def assistant_serve(index_dir: Path, **env: str) -> Iterator[Served]:
    """``assistant serve`` on a free local port with ``ASSISTANT_*`` settings from ``env``, until the
    block ends; ``Served.output`` then holds what it printed."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--port", str(port)],
        env={**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(f"http://127.0.0.1:{port}/", port, process)
    try:
        wait_until_up(served.url, process=process)
        yield served
    finally:
        process.terminate()
        served.output, _ = process.communicate(timeout=60)


def launch_browser(p: Playwright) -> Browser:
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def open_app(browser: Browser, url: str, width: int = 1400, height: int = 1000) -> Page:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.locator("#question textarea").wait_for()
    return page


def ask(page: Page, question: str, timeout_ms: float = 90_000) -> Turn:
    """Type ``question``, press Enter, and wait for the whole answer (with sources) to render."""
    page.evaluate(_TIMER, [BOT, DONE])
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function("() => window.__turn.done !== null", timeout=timeout_ms, polling="raf")
    t = page.evaluate("() => window.__turn")
    first = t["first"] if t["first"] is not None else t["done"]
    return Turn(
        message=page.locator(BOT).last,
        first_text_s=(first - t["enter"]) / 1000,
        done_s=(t["done"] - t["enter"]) / 1000,
        partial_renders=int(t["partial"]),
    )


def choose(page: Page, elem_id: str, option: str) -> None:
    """Pick ``option`` in the Gradio dropdown ``#elem_id``."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_function(
        "([sel, want]) => document.querySelector(sel).value === want", arg=[f"#{elem_id} input", option]
    )


def toggle_sources(message: Locator) -> None:
    """Open (or, when open, close) every source under an answer."""
    for summary in message.locator("details > summary").all():
        summary.click()


def clear(page: Page) -> None:
    """Press Clear and wait for the conversation to empty."""
    page.locator("#clear").click()
    page.wait_for_function("(bot) => document.querySelectorAll(bot).length === 0", arg=BOT)
