"""Evaluation harness: validate the question set, score configurations, write reports.

``assistant eval`` runs it from the command line (see ``evals/README.md``); from Python::

    items = load_questions(DEFAULT_SET)
    results = run(Assistant(), [i for i in items if i.split == "dev"])
    write_report({"hybrid": results}, Path("evals/reports/latest"))
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.evaluation.dataset import DEFAULT_SET, TYPES, Item, load_questions, load_report, validate
from assistant.evaluation.report import compare, headline_table, write_report
from assistant.evaluation.score import BACKENDS, CONFIGS, run_configs
from assistant.settings import Settings

if TYPE_CHECKING:
    pass


# --- command line -------------------------------------------------------------------------------
def add_eval_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``eval`` on an ``argparse`` subparsers object and return its parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "eval",
        help="score the assistant on the evaluation question set",
        description="Validate the question set, run each configuration over it, and write "
        "results.json, summary.md and charts (see evals/README.md).",
    )
    parser.add_argument(
        "--set",
        dest="question_set",
        type=Path,
        default=DEFAULT_SET,
        metavar="PATH",
        help="question set, JSON lines (default: evals/questions.jsonl)",
    )
    parser.add_argument(
        "--split",
        choices=("dev", "test", "blind", "all"),
        default=None,
        help="which split to run (default: test; all when --ids is given)",
    )
    parser.add_argument(
        "--config",
        default=",".join(CONFIGS),
        metavar="LIST",
        help="comma list of retrievers among hybrid, dense, bm25, each optionally with an answer "
        "backend (hybrid+llamacpp, hybrid+openai: see docs/generated-answers.md); the first is the "
        "primary (default: hybrid,dense,bm25)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N", help="only the first N selected items"
    )
    parser.add_argument("--ids", default="", metavar="LIST", help="only these ids, e.g. q001,q002")
    parser.add_argument("--types", default="", metavar="LIST", help="only these types, e.g. fact,metadata")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="report directory (default: eval/ in ASSISTANT_REPORTS_DIR)",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("A.json", "B.json"),
        help="print the headline metrics of two results.json files side by side, and exit",
    )
    parser.add_argument(
        "--validate-only", action="store_true", help="check the question set against the report, and exit"
    )
    parser.set_defaults(handler=run_eval_command)
    return parser


def _split_list(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def select(
    items: Sequence[Item],
    split: str | None = "test",
    ids: Sequence[str] = (),
    types: Sequence[str] = (),
    limit: int | None = None,
) -> list[Item]:
    """The subset to run: split (None or "all" for every item), then ids, types and limit."""
    chosen = [i for i in items if split in (None, "all") or i.split == split]
    if ids:
        wanted = set(ids)
        chosen = [i for i in chosen if i.id in wanted]
    if types:
        wanted = set(types)
        chosen = [i for i in chosen if i.type in wanted]
    return chosen[:limit] if limit is not None else chosen


def config_settings(settings: Settings, config: str) -> Settings | None:
    """The settings of a configuration such as ``hybrid`` or ``hybrid+openai``; None if unknown."""
    retrieval, _, backend = config.partition("+")
    if retrieval not in CONFIGS or (backend and backend not in BACKENDS):
        return None
    return settings.model_copy(update={"retrieval": retrieval, **({"backend": backend} if backend else {})})


def run_eval_command(args: argparse.Namespace) -> int:
    """Carry out ``assistant eval``; returns the process exit code."""
    err = sys.stderr
    if args.compare:
        try:
            print(compare(*args.compare))
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: cannot compare: {exc}", file=err)
            return 2
        return 0
    try:
        items = load_questions(args.question_set)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read the question set: {exc}", file=err)
        return 2
    settings = Settings()
    report, corpus = load_report(settings)
    problems = validate(items, report, corpus)
    if problems:
        print(f"The question set {args.question_set} has {len(problems)} problem(s):", file=err)
        for p in problems:
            print(f"  {p}", file=err)
        return 2
    if args.validate_only:
        print(f"{args.question_set}: {len(items)} items, no problems.")
        return 0

    ids, types = _split_list(args.ids), _split_list(args.types)
    unknown_ids = sorted(set(ids) - {i.id for i in items})
    bad_types = sorted(set(types) - set(TYPES))
    configs = _split_list(args.config)
    bad_configs = sorted(c for c in configs if config_settings(settings, c) is None)
    if unknown_ids or bad_types or bad_configs or not configs or (args.limit is not None and args.limit < 1):
        for label, bad in (("id", unknown_ids), ("type", bad_types), ("configuration", bad_configs)):
            if bad:
                print(f"error: unknown {label}(s): {', '.join(bad)}", file=err)
        if not configs:
            print("error: --config names no configuration", file=err)
        if args.limit is not None and args.limit < 1:
            print("error: --limit must be at least 1", file=err)
        return 2
    split = args.split or ("all" if ids else "test")
    chosen = select(items, split, ids, types, args.limit)
    if not chosen:
        print("error: no items match the selection", file=err)
        return 2
    configs = list(dict.fromkeys(configs))

    from assistant.pipeline import Assistant

    bots = {}
    for cfg in configs:
        bot = Assistant(config_settings(settings, cfg))
        bot.load(progress=True)
        bot.ask(chosen[0].question)  # warm-up, so the first timed answer is not the slowest
        bots[cfg] = bot
    results = run_configs(bots, chosen, progress=True)
    for cfg, res in results.items():
        res.meta.update(
            {
                "retrieval": cfg.partition("+")[0],
                "backend": cfg.partition("+")[2] or settings.backend,
                "split": split,
                "question_set": str(args.question_set),
                "selection": {"ids": ids, "types": types, "limit": args.limit},
            }
        )
        errors = res.counts.get("errors", 0)
        note = f", {errors} error(s)" if errors else ""
        if res.meta["backend"] != "extractive":
            note += f", {res.counts['generated']} generated, {res.counts['fallback']} fell back to extractive"
        print(f"{cfg}: {len(chosen)} items, {res.meta['duration_s']:.1f} s in ask+search{note}", file=err)
    out = args.out or settings.reports_dir / "eval"
    paths = write_report(results, out)
    print(headline_table(results))
    print()
    print(f"{len(results[configs[0]].failed)} failed item(s) for {configs[0]}; report written to {out}:")
    for name in paths:
        print(f"  {name}")
    return 0
