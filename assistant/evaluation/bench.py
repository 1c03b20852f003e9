"""Benchmarks: warm ``ask()`` latency split into retrieval and composition, cold start, index
builds, unchanged re-ingest and peak memory, each beside a plain LangChain baseline.

    assistant bench                 # about 15 minutes on two cores; writes docs/bench.md and .json
    assistant bench --quick         # fewer runs, for a look

The baseline is a plain LangChain dense-retrieval chain over the same Chroma collection
(``langchain_chroma.Chroma(...).as_retriever()`` with k=8) feeding the same extractive composer
and citation enforcement. Fresh-process measures run ``python -m assistant`` (or the
baseline's equivalent) as a user would, and read wall time, CPU time and peak RSS of that child.
The benchmark measures the local index: a Chroma server adds its network round trips.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.evaluation.baseline import baseline_chain
from assistant.evaluation.bench_report import markdown, write
from assistant.settings import Settings

if TYPE_CHECKING:
    from assistant.pipeline import Assistant


MB = 1024 * 1024


@dataclass
class Series:
    """Repeated measurements of one thing, in one unit."""

    unit: str
    values: list[float] = field(default_factory=list)

    def stat(self, name: str) -> float:
        xs = sorted(self.values)
        if not xs:
            return float("nan")
        if name == "max":
            return xs[-1]
        q = {"median": 50, "p95": 95}[name]
        pos = (len(xs) - 1) * q / 100  # linear interpolation between closest ranks (numpy's default)
        lo = int(pos)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    def summary(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "n": len(self.values),
            "median": round(self.stat("median"), 3),
            "p95": round(self.stat("p95"), 3),
            "max": round(self.stat("max"), 3),
            "values": [round(v, 3) for v in self.values],
        }


@dataclass
class Child:
    """One fresh process: wall and CPU seconds, peak resident memory, exit code."""

    wall_s: float
    cpu_s: float
    rss_mb: float
    returncode: int
    stderr: str


# Linux counts a forked child's peak RSS from its parent's size at the fork, even after exec, so a
# child of the benchmark (hundreds of MB) would never report less. A small launcher forks instead.
_LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"wall": time.perf_counter() - started, "cpu": usage.ru_utime + usage.ru_stime,
               "rss_kb": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}, out)
"""


def run_child(argv: Sequence[str], env: dict[str, str], timeout: float = 900) -> Child:
    """Run ``argv`` to completion; its wall and CPU time and peak RSS, read by ``os.wait4`` in a
    small launcher process (see ``_LAUNCHER``)."""
    with tempfile.TemporaryDirectory(prefix="bench-child-") as tmp:
        report, err = Path(tmp) / "usage.json", Path(tmp) / "stderr"
        with open(err, "wb") as stderr:
            subprocess.run(
                [sys.executable, "-c", _LAUNCHER, str(report), *argv],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                timeout=timeout,
                check=False,
            )
        usage = json.loads(report.read_text())
        text = err.read_text(encoding="utf-8", errors="replace")
    return Child(usage["wall"], usage["cpu"], usage["rss_kb"] / 1024, usage["code"], text)


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(
        {
            "ASSISTANT_INDEX_DIR": str(settings.index_dir),
            "ASSISTANT_CORPUS_PATH": str(settings.corpus_path),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    )
    env.update(extra)
    return env


def _check(child: Child, what: str) -> Child:
    if child.returncode != 0:
        tail = " | ".join(child.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"{what} failed with exit code {child.returncode}: {tail}")
    return child


# --- warm ask -----------------------------------------------------------------------------------
RETRIEVAL_STEPS = ("analyse_question", "hybrid_retrieve", "dense_retrieve")


COMPOSITION_STEPS = ("compose_cited_answer",)


def _traced(call: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Run ``call`` and time the steps of the LCEL chain it invokes (LangChain's run tracer)."""
    from langchain_core.tracers.context import collect_runs

    with collect_runs() as runs:
        result = call()
    steps: dict[str, float] = {}
    for run in runs.traced_runs:
        for child in run.child_runs:
            if child.end_time is not None:
                ms = (child.end_time - child.start_time).total_seconds() * 1000
                steps[child.name] = steps.get(child.name, 0.0) + ms
    return result, steps


def warm(bot: Assistant, questions: Sequence[str], rounds: int) -> dict[str, Series]:
    """``ask()`` and the baseline on every question, ``rounds`` times, in this process."""
    from assistant.citations import check

    base = baseline_chain(bot)
    for q in questions[:3]:  # first calls pay for lazy imports and allocator growth
        bot.ask(q)
        base.invoke(q)
    out = {
        name: Series("ms")
        for name in (
            "warm_ask",
            "warm_retrieval",
            "warm_composition",
            "baseline_warm_ask",
            "baseline_warm_retrieval",
            "baseline_warm_composition",
        )
    }
    out["citation_problems"] = Series("count")
    for _ in range(rounds):
        for q in questions:
            started = time.perf_counter()
            answer = bot.ask(q)
            out["warm_ask"].values.append((time.perf_counter() - started) * 1000)
            _, steps = _traced(lambda q=q: bot.ask(q))  # type: ignore[misc]
            if steps:  # comparisons ("How do Russian and Chinese writers differ…") skip the chain
                out["warm_retrieval"].values.append(sum(steps.get(s, 0.0) for s in RETRIEVAL_STEPS))
                out["warm_composition"].values.append(sum(steps.get(s, 0.0) for s in COMPOSITION_STEPS))

            started = time.perf_counter()
            plain = base.invoke(q)
            out["baseline_warm_ask"].values.append((time.perf_counter() - started) * 1000)
            _, steps = _traced(lambda q=q: base.invoke(q))  # type: ignore[misc]
            out["baseline_warm_retrieval"].values.append(sum(steps.get(s, 0.0) for s in RETRIEVAL_STEPS))
            out["baseline_warm_composition"].values.append(sum(steps.get(s, 0.0) for s in COMPOSITION_STEPS))
            out["citation_problems"].values.append(
                len(check(answer, bot.corpus)) + len(check(plain, bot.corpus))
            )
    return out


# --- fresh processes ----------------------------------------------------------------------------
def _fresh(
    name: str, runs: int, ours: Callable[[], Child], baseline: Callable[[], Child], warmup: bool
) -> dict[str, Series]:
    out = {f"{name}": Series("s"), f"{name}_cpu": Series("s"), f"{name}_rss": Series("MB")}
    out |= {f"baseline_{key}": Series(s.unit) for key, s in out.items()}
    if warmup:  # the page cache, and derived files a code change invalidated
        ours()
        baseline()
    for _ in range(runs):
        for prefix, call in (("", ours), ("baseline_", baseline)):
            child = call()
            out[f"{prefix}{name}"].values.append(child.wall_s)
            out[f"{prefix}{name}_cpu"].values.append(child.cpu_s)
            out[f"{prefix}{name}_rss"].values.append(child.rss_mb)
    return out


def cold(settings: Settings, question: str, runs: int) -> dict[str, Series]:
    """A fresh ``assistant ask`` over the built index, against a fresh baseline process."""
    env = _env(settings)
    return _fresh(
        "cold_start",
        runs,
        lambda: _check(run_child([sys.executable, "-m", "assistant", "ask", question], env), "ask"),
        lambda: _check(
            run_child([sys.executable, "-m", "assistant.evaluation.baseline", "_ask", question], env),
            "baseline ask",
        ),
        warmup=True,
    )


def build(settings: Settings, runs: int) -> dict[str, Series]:
    """``assistant ingest`` into an empty directory, against a plain LangChain ingest of the same
    chunks (``Chroma.from_texts``: chunk vectors only, no sentence vectors or derived files)."""

    def ours() -> Child:
        with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
            env = _env(settings, ASSISTANT_INDEX_DIR=str(Path(tmp) / "index"))
            return _check(run_child([sys.executable, "-m", "assistant", "ingest"], env), "ingest")

    def baseline() -> Child:
        with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
            argv = [sys.executable, "-m", "assistant.evaluation.baseline", "_build", tmp]
            return _check(run_child(argv, _env(settings)), "baseline build")

    return _fresh("build", runs, ours, baseline, warmup=False)


def reingest(settings: Settings, runs: int) -> dict[str, Series]:
    """``assistant ingest`` with nothing changed, against a fresh process that opens the baseline's
    collection with ``langchain_chroma`` and counts it (the least any ingest must do)."""
    env = _env(settings)
    return _fresh(
        "reingest",
        runs,
        lambda: _check(run_child([sys.executable, "-m", "assistant", "ingest"], env), "ingest"),
        lambda: _check(
            run_child([sys.executable, "-m", "assistant.evaluation.baseline", "_open"], env), "baseline open"
        ),
        warmup=True,
    )


# --- the whole run and its report ---------------------------------------------------------------
def run_bench(
    settings: Settings,
    *,
    questions: int = 60,
    rounds: int = 3,
    cold_runs: int = 5,
    build_runs: int = 3,
    reingest_runs: int = 5,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every measure; returns what ``write`` turns into docs/bench.md and docs/bench.json."""
    from assistant.evaluation.dataset import DEFAULT_SET, load_questions
    from assistant.pipeline import Assistant
    from assistant.store import load_index

    settings = settings.model_copy(update={"chroma_host": ""})
    load_before = os.getloadavg()
    started = time.time()
    progress("opening the index")
    load_index(settings, progress=True)
    asked = [i.question for i in load_questions(DEFAULT_SET) if not i.history][:questions]
    series: dict[str, Series] = {}
    progress(f"warm ask: {len(asked)} questions x {rounds} rounds, and the baseline")
    bot = Assistant(settings).load()
    series |= warm(bot, asked, rounds)
    series["warm_process_rss"] = Series("MB", [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024])
    progress(f"cold start: {cold_runs} fresh processes each")
    series |= cold(settings, asked[0], cold_runs)
    progress(f"unchanged re-ingest: {reingest_runs} fresh processes each")
    series |= reingest(settings, reingest_runs)
    if build_runs:
        progress(f"index build from scratch: {build_runs} runs each (minutes)")
        series |= build(settings, build_runs)
    ours_rss = [
        v
        for k in ("cold_start_rss", "reingest_rss", "build_rss", "warm_process_rss")
        for v in series.get(k, Series("MB")).values
    ]
    series["peak_rss"] = Series("MB", [max(ours_rss)])
    baseline_rss = [
        v
        for k in ("cold_start_rss", "reingest_rss", "build_rss")
        for v in series.get(f"baseline_{k}", Series("MB")).values
    ]
    series["baseline_peak_rss"] = Series("MB", [max(baseline_rss)])
    import torch

    return {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "torch": torch.__version__,
            "platform": platform.platform(),
        },
        "runs": {
            "questions": len(asked),
            "rounds": rounds,
            "cold_runs": cold_runs,
            "build_runs": build_runs,
            "reingest_runs": reingest_runs,
        },
        "index": {k: bot.index.manifest[k] for k in ("chunks", "sentences", "documents")},
        "series": {k: s.summary() for k, s in series.items()},
    }


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``bench`` on an ``argparse`` subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="measure latency, start-up, builds and memory against a plain LangChain baseline",
        description="Warm ask() latency (retrieval and composition), cold start, index builds, unchanged "
        "re-ingest and peak memory, beside a plain LangChain dense-retrieval baseline; writes bench.md "
        "and bench.json.",
    )
    parser.add_argument("--questions", type=int, default=60, help="warm questions (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="warm rounds over the questions (default 3)")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh-process answers (default 5)")
    parser.add_argument("--reingest-runs", type=int, default=5, help="unchanged re-ingests (default 5)")
    parser.add_argument("--build-runs", type=int, default=3, help="builds from scratch (default 3; 0 skips)")
    parser.add_argument(
        "--quick", action="store_true", help="a short run: 20 questions, 1 round, 2 of the rest"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for bench.md and bench.json (default: bench/ in ASSISTANT_REPORTS_DIR)",
    )
    return parser


def run_bench_command(args: argparse.Namespace) -> int:
    if args.quick:
        args.questions, args.rounds, args.cold_runs, args.reingest_runs = 20, 1, 2, 2
        args.build_runs = min(args.build_runs, 1)
    settings = Settings()
    result = run_bench(
        settings,
        questions=args.questions,
        rounds=args.rounds,
        cold_runs=args.cold_runs,
        build_runs=args.build_runs,
        reingest_runs=args.reingest_runs,
        progress=lambda text: print(f"bench: {text}", file=sys.stderr, flush=True),
    )
    md, js = write(result, args.out or settings.reports_dir / "bench")
    print(markdown(result))
    print(f"written: {md} and {js}")
    return 0
