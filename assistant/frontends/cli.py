"""Command line: ``assistant ingest | ask | compare | search | sources | chat | info | serve``.

Errors become one line."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError
from assistant.settings import Settings


def _filters(args: argparse.Namespace) -> dict[str, Any] | None:
    chosen = {
        key: getattr(args, key)
        for key in ("area", "language", "kind", "author", "perspective", "doc_id")
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
    group.add_argument("--doc", dest="doc_id", help="one document's id, as `assistant sources` lists it")


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
    ask.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print the answer as it is written (default: on with a language-model backend)",
    )
    _add_filters(ask)

    search = sub.add_parser("search", help="ranked passages for a query")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=8, help="how many passages (default 8)")
    search.add_argument("--json", action="store_true", help="print the passages as JSON")
    _add_filters(search)

    compare = sub.add_parser(
        "compare", help="Russian sources, Chinese sources and Western analysis side by side"
    )
    compare.add_argument("question", nargs="?", help="what to compare (optional with --area)")
    compare.add_argument("--area", help="arms sales | exercises | space | hybrid")
    compare.add_argument("--json", action="store_true", help="print the answer as JSON")

    sources = sub.add_parser("sources", help="list the report's chapters and appendix sources")
    sources.add_argument("--area", help="arms sales | exercises | space | hybrid")
    sources.add_argument("--language", help="Russian | Chinese | English")
    sources.add_argument("--kind", help="chapter | appendix (or summary | bio)")
    sources.add_argument("--author", help="part of an author's name, e.g. Bartosh")
    sources.add_argument("--json", action="store_true", help="print every field as JSON")

    show = sub.add_parser("show", help="citation N of the last answer, in its context in the report")
    show.add_argument("number", type=int, help="the citation's number, as in [N]")
    show.add_argument("--before", type=int, default=1, help="paragraphs before it (default 1)")
    show.add_argument("--after", type=int, default=1, help="paragraphs after it (default 1)")
    sub.add_parser("chat", help="a conversation in the terminal (follow-up questions work; 'show N')")
    feedback = sub.add_parser("feedback", help="feedback given in the chat UI")
    feedback_sub = feedback.add_subparsers(dest="action", required=True)
    export = feedback_sub.add_parser(
        "export", help="the flagged answers as draft question-set items (JSON lines) for review"
    )
    export.add_argument("--out", type=Path, default=Path("feedback-drafts.jsonl"), help="file to write")
    feedback_sub.add_parser("list", help="every feedback record, one line each")
    sub.add_parser("info", help="where the index lives and what it was built from")
    from assistant.evaluation.bench import add_bench_parser
    from assistant.evaluation.evaluate import add_eval_parser

    add_eval_parser(sub)
    add_bench_parser(sub)

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
        status = _run(args)
        sys.stdout.flush()
        return status
    except BrokenPipeError:  # `assistant search … | head -1`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            return _unexpected(args, exc)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"error: cannot write the output: {os.strerror(exc.errno)}", file=sys.stderr)
        return 1
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return _unexpected(args, exc)


def _unexpected(args: argparse.Namespace, exc: Exception) -> int:
    if args.debug:
        raise exc
    print(f"error: unexpected failure ({exc.__class__.__name__}: {exc}); rerun with --debug", file=sys.stderr)
    return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "eval":
        from assistant.evaluation.evaluate import run_eval_command

        return run_eval_command(args)
    if args.command == "bench":
        from assistant.evaluation.bench import run_bench_command

        return run_bench_command(args)
    settings = Settings()
    if args.command == "ingest":
        from assistant.store import ingest

        started = time.perf_counter()
        index = ingest(settings, force=args.force, progress=True)
        from assistant.knowledge import open_knowledge

        open_knowledge(settings)  # the derived files (BM25, catalog, spaCy's analysis, descriptors), now
        took = time.perf_counter() - started
        m = index.manifest
        print(
            f"Index ready: {m['chunks']} chunks from {m['documents']} documents "
            f"at {index.location} ({took:.1f} s)"
        )
        return 0
    if args.command == "info":
        from assistant.store import load_index

        print(f"corpus:    {settings.corpus_path}")
        print(f"index dir: {settings.index_dir}")
        try:  # opened as a question would open it, without building: what it says is what is served
            served = load_index(settings, build=False)
        except AssistantError as exc:
            print(f"build:     {exc}")
            return 0
        print(f"build:     {served.location} (current)")
        print(f"built at:  {served.manifest['built_at']}, {served.manifest['chunks']} chunks")
        return 0

    if args.command == "feedback":
        from assistant.frontends.feedback import FeedbackStore

        store = FeedbackStore(settings)
        if args.action == "export":
            count = store.export(args.out)
            print(f"{count} flagged answers written to {args.out} as draft items (split 'draft') to review")
            return 0
        for f in store.all():
            wrong = f" wrong: {f.wrong_citations}" if f.wrong_citations else ""
            note = f" — {f.comment}" if f.comment else ""
            print(f"{f.id}\t{f.created_at}\t{f.verdict}{wrong}\t{f.question}{note}")
        return 0

    if args.command == "serve":
        from assistant.frontends.ui.server import serve

        overrides = {"ui_host": args.host, "ui_port": args.port}
        serve(settings.model_copy(update={k: v for k, v in overrides.items() if v is not None}))
        return 0

    from assistant.pipeline import Assistant

    if args.command == "sources":  # needs the report only, not the index
        return _sources(Assistant(settings), args)
    if args.command == "show":  # the report only, and the last answer
        citation = _last_citation(args.number)
        print(Assistant(settings).context(citation, args.before, args.after).format_plain(), end="")
        return 0
    bot = Assistant(settings)
    bot.load(progress=True)
    streaming = settings.backend != "extractive"  # a model writes slowly: show it writing
    if args.command == "ask":
        if (args.stream if args.stream is not None else streaming) and not args.json:
            _remember(_print_stream(bot.stream(args.question, filters=_filters(args))))
            return 0
        answer = _remember(bot.ask(args.question, filters=_filters(args)))
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        else:
            print(answer.format_plain())
        return 0
    if args.command == "compare":
        answer = bot.compare(args.question, area=args.area)
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
        return _chat(bot, streaming)
    return 2


def _sources(bot: Any, args: argparse.Namespace) -> int:
    from assistant.sources import format_table, source_record

    chosen = {key: getattr(args, key) for key in ("area", "language", "kind", "author")}
    docs = bot.sources(**chosen)
    if args.json:
        print(json.dumps([source_record(d) for d in docs], ensure_ascii=False, indent=2))
    else:
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        print(format_table(docs, width))
    return 0


def _print_stream(pieces: Iterable[Any]) -> Any:
    """Print an answer as it is written, then its sources; return the final ``Answer``.

    A generated answer is printed again once checked: the draft shows the model's own keys and
    may hold sentences that enforcement removed.
    """
    written = ""
    for piece in pieces:
        if isinstance(piece, str):
            print(piece, end="", flush=True)
            written += piece
            continue
        if written.strip() == piece.text.strip():
            print(piece.format_plain()[len(piece.text) :])
        else:
            print(f"\n\nChecked against the report:\n{piece.format_plain()}")
        return piece
    raise AssistantError("The answer ended without a result.")


def _last_answer_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "transatlantic-assistant" / "last-answer.json"


def _remember(answer: Any) -> Any:
    """Keep the answer for ``assistant show N`` (an unwritable state directory only loses that)."""
    path = _last_answer_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(answer.to_dict(), ensure_ascii=False), encoding="utf-8")
    except OSError as exc:
        logging.getLogger(__name__).info("Not keeping the last answer: %s", exc)
    return answer


def _last_citation(number: int, answer: Any = None) -> Any:
    from assistant.types import Citation

    if answer is not None:
        cited = [c.to_dict() for c in answer.citations]
    else:
        try:
            cited = json.loads(_last_answer_file().read_text(encoding="utf-8"))["citations"]
        except (OSError, ValueError, KeyError, TypeError):
            raise AssistantError(
                "There is no last answer to show a citation of; ask a question first."
            ) from None
    for data in cited:
        if data.get("number") == number:
            return Citation(**data)
    numbers = ", ".join(str(c.get("number")) for c in cited) or "none"
    raise AssistantError(f"The last answer has no citation [{number}] (it has: {numbers}).")


def _chat(bot: Any, streaming: bool = False) -> int:
    print(
        "Ask about the report (empty line or Ctrl-D to quit; 'clear' starts over; 'show N' shows citation N)."
    )
    last = None
    conversation = bot.conversation()
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            print()
            return 0
        if not question:
            return 0
        if question.lower() == "clear":
            conversation.clear()
            last = None
            print("(conversation cleared)")
            continue
        try:
            shown = question.lower().removeprefix("show").strip()
            if question.lower().startswith("show") and shown.isdigit():
                if last is None:
                    raise AssistantError("There is no answer yet to show a citation of.")
                print(bot.context(_last_citation(int(shown), last)).format_plain(), end="")
                continue
            if streaming:
                answer = _print_stream(conversation.stream(question))
            else:
                answer = conversation.ask(question)
                print(answer.format_plain())
        except AssistantError as exc:
            print(f"error: {exc}")
            continue
        last = _remember(answer)


if __name__ == "__main__":
    sys.exit(main())
