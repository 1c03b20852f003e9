"""The evaluation report: Markdown tables, charts, and the comparison of two runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.evaluation.score import _PERSPECTIVE_KEYS, K_VALUES, Results, headline_metrics, types_in

if TYPE_CHECKING:
    pass


# --- reports ------------------------------------------------------------------------------------
def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"
    if unit == "num":
        return f"{value:.0f}"
    return f"{100 * value:.1f}%"


def fmt_delta(a: float | None, b: float | None, unit: str) -> str:
    if a is None or b is None:
        return "—"
    d = b - a
    if unit == "ms":
        return f"{d:+.1f} ms"
    if unit == "num":
        return f"{d:+.0f}"
    return f"{100 * d:+.1f} pp"


def md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def headline_table(results_by_config: dict[str, Results]) -> str:
    """Markdown table: one row per headline metric, one column per configuration."""
    names = list(results_by_config)
    first = results_by_config[names[0]]
    lines = [
        "| Metric | n | " + " | ".join(names) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in names) + " |",
    ]
    for key, label, unit in headline_metrics(first.k_values):
        n = first.counts.get(key, 0)
        if key in _PERSPECTIVE_KEYS and not any(r.counts.get(key) for r in results_by_config.values()):
            continue  # no comparison item with per-perspective gold sources in this run
        cells = [fmt(r.metrics.get(key), unit) for r in results_by_config.values()]
        lines.append(f"| {label} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_type_table(results: Results) -> str:
    """Markdown table: one row per question type, one column per metric."""
    cols = [
        (k, label, unit)
        for k, label, unit in headline_metrics(results.k_values)
        if k != "latency_p95_ms" and k not in _PERSPECTIVE_KEYS  # the headline has those
    ]
    lines = [
        "| Type | n | " + " | ".join(label for _, label, _ in cols) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in cols) + " |",
    ]
    for kind, block in results.by_type.items():
        cells = [fmt(block["metrics"].get(k), unit) for k, _, unit in cols]
        lines.append(f"| {kind} | {block['counts']['items']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def failures_section(results: Results) -> str:
    failed = results.failed
    lines = [
        f"## Failures ({results.config})",
        "",
        f"{len(failed)} of {len(results.records)} items failed at least one check.",
    ]
    for r in failed:
        lines += ["", f"### {r.id} ({r.type}, {r.split})", ""]
        lines.append(f"- **Failed:** {'; '.join(r.failures)}")
        for turn in r.history:
            lines.append(f"- **History ({turn.get('role', '?')}):** {md_cell(turn.get('content', ''))}")
        lines.append(f"- **Question:** {md_cell(r.question)}")
        answer = md_cell(r.answer) or "(empty)"
        lines.append(f"- **Answer{' (abstained)' if r.abstained else ''}:** {answer}")
        lines.append("- **Cited:** " + ("; ".join(r.cited) if r.cited else "none"))
        lines.append("- **Gold:** " + ("; ".join(r.gold) if r.gold else "none (unanswerable)"))
    return "\n".join(lines)


def summary_markdown(results_by_config: dict[str, Results]) -> str:
    names = list(results_by_config)
    primary = results_by_config[names[0]]
    splits = sorted({r.split for r in primary.records})
    lines = [
        "# Evaluation summary",
        "",
        f"Generated {datetime.now(UTC).isoformat(timespec='seconds')}; "
        f"{len(primary.records)} items (split: {', '.join(splits) or '—'}); "
        f"configurations: {', '.join(names)} (primary: {names[0]}). "
        "Metric definitions: `evals/README.md`. n is the number of items a metric averages over.",
        "",
        "## Headline",
        "",
        headline_table(results_by_config),
    ]
    if len(splits) > 1:  # every split on its own: a figure over dev and test together estimates nothing
        for split in splits:
            by_split = {
                name: Results(res.config, [r for r in res.records if r.split == split], res.k_values)
                for name, res in results_by_config.items()
            }
            lines += ["", f"## Split: {split}", "", headline_table(by_split)]
    for name, results in results_by_config.items():
        lines += ["", f"## Per type: {name}", "", per_type_table(results)]
    lines += ["", failures_section(primary), ""]
    return "\n".join(lines)


def write_report(results_by_config: dict[str, Results], out_dir: Path | str) -> dict[str, Path]:
    """Write results.json, summary.md, per_type.png and latency.png; return their paths by name."""
    if not results_by_config:
        raise ValueError("no results to report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(results_by_config)
    payload = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "primary": names[0],
        "configs": {name: r.to_dict() for name, r in results_by_config.items()},
    }
    paths = {"results.json": out / "results.json", "summary.md": out / "summary.md"}
    paths["results.json"].write_text(
        json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    paths["summary.md"].write_text(summary_markdown(results_by_config), encoding="utf-8")
    paths.update(write_charts(results_by_config, out))
    return paths


def write_charts(results_by_config: dict[str, Results], out: Path) -> dict[str, Path]:
    """per_type.png (source hit per type, grouped by configuration) and latency.png (boxplots)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    names = list(results_by_config)
    types = [
        t
        for t in types_in(r for res in results_by_config.values() for r in res.records)
        if any(
            res.by_type.get(t, {}).get("metrics", {}).get("source_hit") is not None
            for res in results_by_config.values()
        )
    ]
    primary = results_by_config[names[0]]

    fig = Figure(figsize=(max(6.0, 1.4 * len(types) + 2), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / len(names)
    for j, (name, res) in enumerate(results_by_config.items()):
        values = [res.by_type.get(t, {}).get("metrics", {}).get("source_hit") for t in types]
        xs = [i - 0.4 + width * (j + 0.5) for i in range(len(types))]
        bars = ax.bar(xs, [v or 0.0 for v in values], width, label=name)
        ax.bar_label(bars, labels=[f"{100 * v:.0f}" if v is not None else "" for v in values], fontsize=7)
    ax.set_xticks(range(len(types)))
    ax.set_xticklabels(
        [f"{t}\n(n={primary.by_type.get(t, {}).get('counts', {}).get('source_hit', 0)})" for t in types]
    )
    ax.set_ylim(0, 1.08)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("source hit")
    ax.set_title("Source hit by question type (answerable items)")
    ax.legend(loc="lower right", fontsize=8)
    per_type = out / "per_type.png"
    fig.savefig(per_type, dpi=120)

    fig = Figure(figsize=(max(5.0, 1.6 * len(names) + 2), 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    data = [[r.latency_ms for r in res.records if not r.error] or [0.0] for res in results_by_config.values()]
    ax.boxplot(data, showfliers=True)
    ax.set_xticks(range(1, len(names) + 1))
    ax.set_xticklabels(names)
    for i, res in enumerate(results_by_config.values(), start=1):
        med = res.metrics.get("latency_median_ms")
        if med is not None:
            ax.annotate(
                f"{med:.0f} ms", (i, med), xytext=(40, 0), textcoords="offset points", fontsize=8, va="center"
            )
    flat = sorted(x for series in data for x in series if x > 0)
    if flat and flat[-1] / flat[len(flat) // 2] > 20:  # a long tail: keep the boxes readable
        ax.set_yscale("log")
    ax.set_ylabel("ask() latency (ms)")
    ax.set_title("Answer latency per configuration")
    latency = out / "latency.png"
    fig.savefig(latency, dpi=120)
    return {"per_type.png": per_type, "latency.png": latency}


def load_primary(path: Path | str, config: str | None = None) -> tuple[str, dict[str, Any]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    name = config or data["primary"]
    if name not in data["configs"]:
        raise ValueError(f"{path} has no configuration '{name}' (it has: {', '.join(data['configs'])})")
    return name, data["configs"][name]


def compare(
    path_a: Path | str, path_b: Path | str, config_a: str | None = None, config_b: str | None = None
) -> str:
    """Markdown table of two results.json files' headline metrics (primary configurations by
    default) side by side, with the difference B − A."""
    name_a, a = load_primary(path_a, config_a)
    name_b, b = load_primary(path_b, config_b)
    k_values = tuple(a.get("k_values", K_VALUES))
    head_a, head_b = f"A: {path_a} ({name_a})", f"B: {path_b} ({name_b})"
    lines = [
        f"| Metric | {md_cell(head_a)} | {md_cell(head_b)} | Δ (B − A) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label, unit in headline_metrics(k_values):
        va, vb = a["metrics"].get(key), b["metrics"].get(key)
        na, nb = a["counts"].get(key, 0), b["counts"].get(key, 0)
        if key in _PERSPECTIVE_KEYS and not (na or nb):
            continue
        cells = [f"{fmt(va, unit)} (n={na})", f"{fmt(vb, unit)} (n={nb})", fmt_delta(va, vb, unit)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
