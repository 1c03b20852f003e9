"""Screenshots of a real chat session for the README, and the answer timings seen in the browser.

    .venv/bin/python docs/screenshots.py           # docs/ui-answer.png, -followup, -filtered, -phone
    .venv/bin/python docs/screenshots.py --timing  # also: medians over ten questions

Starts the app on a free local port with the usual settings (``ASSISTANT_INDEX_DIR`` etc.) and drives
Debian's chromium through Playwright, with the helpers the UI tests use. Chinese titles need a CJK
font in the browser: ``apt-get install fonts-noto-cjk``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.frontends.ui.server import serve  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from tests.ui_browser import (  # noqa: E402
    Turn,
    ask,
    choose,
    clear,
    free_port,
    launch_browser,
    open_app,
    toggle_sources,
)

DOCS = ROOT / "docs"
TIMING_QUESTIONS = (
    "What did Russia agree to sell China in 2015?",
    "What do Gabuev and Kashin say about the S-400 sale?",
    "Who wrote the chapter on Chinese views of joint exercises with Russia?",
    "What is the International Lunar Research Station?",
    "How do Chinese authors describe color revolutions?",
    "What does Bartosh argue about hybrid warfare?",
    "Why does Russia worry about Chinese copying of its weapons?",
    "What happened in the Zapad/Interaction-2021 exercise?",
    "How do Russia and China cooperate on satellite navigation?",
    "What is the capital of Peru?",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timing", action="store_true", help="also time ten questions in the browser")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    port = free_port()
    app = serve(Settings(ui_port=port), block=False)
    url = f"http://127.0.0.1:{port}/"
    try:
        with sync_playwright() as p:
            browser = launch_browser(p)
            page = open_app(browser, url, width=1400, height=1050)

            turn = ask(page, "What do Gabuev and Kashin say about the S-400 sale?")
            turn.message.locator(".ta-ref").first.click()  # [1] opens its passage in context
            mark = turn.message.locator(".ta-citation.ta-n-1 mark")
            mark.evaluate("e => e.scrollIntoView({block: 'center'})")
            page.screenshot(path=DOCS / "ui-answer.png")

            for summary in turn.message.locator("details.ta-source[open] > summary").all():
                summary.click()  # closes them again: the follow-up is the point here
            turn = ask(page, "When was that published?")
            toggle_sources(turn.message)
            page.locator("#chat [role=log]").evaluate("e => { e.scrollTop = e.scrollHeight; }")
            page.screenshot(path=DOCS / "ui-followup.png")

            clear(page)
            choose(page, "filter-perspective", "Chinese sources")
            turn = ask(page, "What do the sources say about joint exercises?")
            turn.message.locator("details.ta-source > summary").first.click()
            page.screenshot(path=DOCS / "ui-filtered.png")

            phone = open_app(browser, url, width=390, height=844)
            turn = ask(phone, "What is the International Lunar Research Station?")
            phone.screenshot(path=DOCS / "ui-phone.png")
            names = ("answer", "followup", "filtered", "phone")
            print(f"wrote {', '.join(f'docs/ui-{n}.png' for n in names)}")

            if args.timing:
                page = open_app(browser, url)
                ask(page, "What is the ILRS?")  # warm-up, not counted
                turns: list[Turn] = []
                for question in TIMING_QUESTIONS:
                    clear(page)
                    turns.append(ask(page, question))
                    t = turns[-1]
                    print(f"{t.first_text_s:6.2f} s first text {t.done_s:6.2f} s with sources  {question}")
                first = statistics.median(t.first_text_s for t in turns)
                done = statistics.median(t.done_s for t in turns)
                print(f"median over {len(turns)}: first text {first:.2f} s, answer with sources {done:.2f} s")
            browser.close()
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
