"""The benchmark's machinery (the benchmark itself is `assistant bench`, not a test)."""

from __future__ import annotations

import os
import sys

import pytest

from assistant import Assistant
from assistant.citations import check
from assistant.evaluation.baseline import baseline_chain
from assistant.evaluation.bench import Series, run_child
from assistant.evaluation.bench_report import markdown


def test_series_statistics() -> None:
    s = Series("ms", [5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.stat("median"), s.stat("max")) == (3.0, 5.0)
    assert s.stat("p95") == pytest.approx(4.8)
    assert s.summary()["n"] == 5


def test_run_child_reads_that_childs_own_memory_and_time() -> None:
    code = "import time; x = bytearray(300 * 1024 * 1024); time.sleep(0.2)"
    child = run_child([sys.executable, "-c", code], dict(os.environ))
    assert child.returncode == 0 and child.rss_mb > 300 and child.wall_s >= 0.2
    small = run_child([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ))
    assert small.returncode == 3 and small.rss_mb < 100  # not the size of this (test) process


@pytest.mark.slow
def test_the_baseline_answers_with_citations_that_hold(bot: Assistant, corpus_text: str) -> None:
    chain = baseline_chain(bot)
    answer = chain.invoke("What did Russia agree to sell China in 2015?")
    assert answer.citations and check(answer, corpus_text) == []


def test_report_marks_missed_targets() -> None:
    def series(unit: str, *values: float) -> dict[str, object]:
        return Series(unit, list(values)).summary()

    result = {
        "when": "now",
        "duration_s": 60,
        "machine": {
            "cpus": 2,
            "load_average_before": [0, 0, 0],
            "load_average_after": [0, 0, 0],
            "python": "3.11",
            "torch": "2",
            "platform": "linux",
        },
        "runs": {"questions": 1, "rounds": 1, "cold_runs": 1, "build_runs": 1, "reingest_runs": 1},
        "index": {"chunks": 1, "sentences": 1, "documents": 1},
        "series": {
            "warm_ask": series("ms", 100, 120, 400),
            "baseline_warm_ask": series("ms", 50, 60, 70),
            "cold_start": series("s", 5.0),
            "baseline_cold_start": series("s", 4.0),
            "peak_rss": series("MB", 700),
            "baseline_peak_rss": series("MB", 500),
        },
    }
    text = markdown(result)
    assert (
        "| Warm `ask()`, total | 120 ms | 372 ms | median < 150 ms, p95 < 300 ms | **no** | 60 ms | 2.00 |"
        in text
    )
    assert (
        "| Cold start to first answer (fresh process) | 5.00 s |" in text
        and "| yes | 4.00 s | 1.25 |" in text
    )
    assert (
        "| Peak memory (largest of our processes) | 700 MB |  | max < 1,536 MB | yes | 500 MB | 1.40 |"
        in text
    )
