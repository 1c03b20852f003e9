"""The benchmark's report: the targets, rows and Markdown of ``docs/bench.md``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class Target:
    """A goal on this project's reference machine (two cores): ``value < limit`` to pass."""

    measure: str
    statistic: str
    limit: float
    unit: str


TARGETS = (
    Target("warm_ask", "median", 150, "ms"),
    Target("warm_ask", "p95", 300, "ms"),
    Target("cold_start", "median", 10, "s"),
    Target("build", "median", 60, "s"),
    Target("reingest", "median", 3, "s"),
    Target("peak_rss", "max", 1536, "MB"),
)


ROWS = (
    ("warm_ask", "Warm `ask()`, total", "ms"),
    ("warm_retrieval", "… retrieval (analyse + retrieve)", "ms"),
    ("warm_composition", "… composition (compose + citations)", "ms"),
    ("cold_start", "Cold start to first answer (fresh process)", "s"),
    ("cold_start_cpu", "… CPU time of that process", "s"),
    ("reingest", "Re-ingest, nothing changed (fresh process)", "s"),
    ("build", "Index build from scratch (fresh process)", "s"),
    ("build_cpu", "… CPU time of that process", "s"),
    ("peak_rss", "Peak memory (largest of our processes)", "MB"),
)


def fmt(value: float, unit: str) -> str:
    if value != value:  # NaN: not measured
        return "–"
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "MB":
        return f"{value:,.0f} MB"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def markdown(result: dict[str, Any]) -> str:
    """docs/bench.md: the table against the targets, then how it was measured."""
    s = result["series"]

    def stat(key: str, name: str) -> float:
        return float(s[key][name]) if key in s else float("nan")

    lines = [
        "# Benchmarks",
        "",
        f"Written by `assistant bench` on {result['when']} ({result['duration_s'] / 60:.0f} min). "
        "Targets hold on the project's two-core reference machine; the ratio is ours divided by the "
        "baseline (below 1: faster or smaller than the baseline).",
        "",
        "| measure | median | p95 | target | met | baseline median | ratio |",
        "|---|---:|---:|---|:-:|---:|---:|",
    ]
    for key, label, unit in ROWS:
        if key not in s:
            continue
        targets = [t for t in TARGETS if t.measure == key]
        met = all(stat(key, t.statistic) < t.limit for t in targets)
        target = ", ".join(f"{t.statistic} < {fmt(t.limit, t.unit)}" for t in targets)
        base = stat(f"baseline_{key}", "median") if key != "peak_rss" else stat("baseline_peak_rss", "max")
        ours = stat(key, "median") if key != "peak_rss" else stat(key, "max")
        ratio = f"{ours / base:.2f}" if base == base and base > 0 else "–"
        p95 = fmt(stat(key, "p95"), unit) if key != "peak_rss" else ""
        verdict = ("yes" if met else "**no**") if targets else ""
        lines.append(
            f"| {label} | {fmt(ours, unit)} | {p95} | {target} | {verdict} | {fmt(base, unit)} | {ratio} |"
        )
    m, r = result["machine"], result["runs"]
    problems = int(sum(s["citation_problems"]["values"])) if "citation_problems" in s else 0
    lines += [
        "",
        f"Citation problems in the warm runs (ours and baseline, `citations.check`): {problems}.",
        "",
        "## How it was measured",
        "",
        f"- Machine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}, torch {m['torch']}. Load "
        f"average (1, 5, 15 min) {tuple(m['load_average_before'])} before and "
        f"{tuple(m['load_average_after'])} after: other work on the machine slows every wall-clock figure, "
        "which is why CPU times are listed too.",
        f"- Index: {result['index']['chunks']} chunks, {result['index']['sentences']} sentences, "
        f"{result['index']['documents']} documents.",
        f"- Warm: {r['questions']} questions from `evals/questions.jsonl` × {r['rounds']} rounds in one "
        "process after three warm-up questions. The total is a plain `ask()`; the split comes from a "
        "second, traced `ask()` (LangChain's run tracer times each step of the LCEL chain; comparison "
        "questions, which do not go through that chain, count in the total only).",
        f"- Cold start: `python -m assistant ask …` in a fresh process, {r['cold_runs']} runs after one "
        f"warm-up, wall time from launch to exit. Re-ingest: `assistant ingest` over the current index, "
        f"{r['reingest_runs']} runs. Build: `assistant ingest` into an empty directory, "
        f"{r['build_runs']} runs. "
        "Memory: peak RSS of each process (`os.wait4`), and of the warm benchmark process itself.",
        "- Baseline: `langchain_chroma.Chroma(client=…, collection_name=…, "
        "embedding_function=LangChainEmbeddings()).as_retriever(k=8)` over the same collection, feeding the "
        "same composer and citation enforcement; in fresh processes the same chain answers one question; "
        "its build is `Chroma.from_texts` of the same chunks (chunk vectors only); its re-ingest opens and "
        "counts that collection.",
        "",
        "Raw values: `docs/bench.json`.",
    ]
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "bench.md", out / "bench.json"
    md.write_text(markdown(result), encoding="utf-8")
    js.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return md, js
