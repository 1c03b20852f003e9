"""Command line: ``assistant ingest | ask | search | chat | info | serve``. Errors become one line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from .errors import AssistantError
from .settings import Settings


def _filters(args: argparse.Namespace) -> dict[str, Any] | None:
    chosen = {
        key: getattr(args, key)
        for key in ("area", "language", "kind", "author", "perspective")
        if getattr(args, key, None)
    }
    return chosen or None


def _add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters")
    group.add_argument("--area", help="arms sales | exercises | space | hybrid")
    group.add_argument("--language", help="Russian | Chinese | English")
    group.add_argument("--kind", help="summary | chapter | appendix | bio")
    group.add_argument("--author", help="part of an author's name, e.g. Bartosh")
    group.add_argument("--perspective", help="Russian | Chinese | Western")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Cited answers over the CSIS report Broader Transatlantic Security (2022).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="build the index (rebuilds only when something changed)")
    ingest.add_argument("--force", action="store_true", help="rebuild even if the index is current")

    ask = sub.add_parser("ask", help="answer a question with numbered sources")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    _add_filters(ask)

    search = sub.add_parser("search", help="ranked passages for a query")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=8, help="how many passages (default 8)")
    search.add_argument("--json", action="store_true", help="print the passages as JSON")
    _add_filters(search)

    sub.add_parser("chat", help="a conversation in the terminal (follow-up questions work)")
    sub.add_parser("info", help="where the index lives and what it was built from")
    from .evaluate import add_eval_parser

    add_eval_parser(sub)

    serve = sub.add_parser("serve", help="the chat UI in the browser (needs the 'ui' extra)")
    serve.add_argument("--host", help="address to listen on (default: ASSISTANT_UI_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: ASSISTANT_UI_PORT or 7860)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(message)s",
        stream=sys.stderr,
    )
    for noisy in ("chromadb", "httpx", "sentence_transformers", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        return _run(args)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"error: unexpected failure ({exc.__class__.__name__}: {exc}); rerun with --debug",
            file=sys.stderr,
        )
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "eval":
        from .evaluate import run_eval_command

        return run_eval_command(args)
    settings = Settings()
    if args.command == "ingest":
        from .index import build_index, load_index

        started = time.perf_counter()
        if args.force:
            build_index(settings, progress=True)
        index = load_index(settings, progress=True)
        took = time.perf_counter() - started
        m = index.manifest
        print(
            f"Index ready: {m['chunks']} chunks from {m['documents']} documents "
            f"at {index.path} ({took:.1f} s)"
        )
        return 0
    if args.command == "info":
        from .index import fingerprint

        print(f"corpus:    {settings.corpus_path}")
        print(f"index dir: {settings.index_dir}")
        current = settings.index_dir / "CURRENT"
        if current.exists():
            manifest_path = settings.index_dir / "builds" / current.read_text().strip() / "manifest.json"
            manifest = json.loads(manifest_path.read_text())
            fresh = manifest.get("fingerprint") == fingerprint(settings)
            print(f"build:     {manifest_path.parent.name} ({'current' if fresh else 'stale: will rebuild'})")
            print(f"built at:  {manifest['built_at']}, {manifest['chunks']} chunks")
        else:
            print("build:     none yet (built on first use, or run: assistant ingest)")
        return 0

    if args.command == "serve":
        from .ui import serve

        overrides = {"ui_host": args.host, "ui_port": args.port}
        serve(settings.model_copy(update={k: v for k, v in overrides.items() if v is not None}))
        return 0

    from .pipeline import Assistant

    bot = Assistant(settings)
    bot.load(progress=True)
    if args.command == "ask":
        answer = bot.ask(args.question, filters=_filters(args))
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        else:
            print(answer.format_plain())
        return 0
    if args.command == "search":
        passages = bot.search(args.query, k=args.k, filters=_filters(args))
        if args.json:
            print(json.dumps([p.to_dict() for p in passages], ensure_ascii=False, indent=2))
            return 0
        for p in passages:
            print(f"{p.rank}. [{p.score:.4f}] {p.doc.label()} — {p.chunk.section or p.doc.title}")
            print(f"   {p.chunk.text[:300]}{'…' if len(p.chunk.text) > 300 else ''}")
        return 0
    if args.command == "chat":
        return _chat(bot)
    return 2


def _chat(bot: Any) -> int:
    print("Ask about the report (empty line or Ctrl-D to quit; 'clear' starts over).")
    history: list[dict[str, str]] = []
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            print()
            return 0
        if not question:
            return 0
        if question.lower() == "clear":
            history = []
            print("(conversation cleared)")
            continue
        try:
            answer = bot.ask(question, history=history)
        except AssistantError as exc:
            print(f"error: {exc}")
            continue
        print(answer.format_plain())
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]


if __name__ == "__main__":
    sys.exit(main())
