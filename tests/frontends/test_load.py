"""Load: many simulated users asking the running chat UI (`assistant serve`) at once, through
``gradio_client`` and its ``/ask`` endpoint, each sending its own conversation so far (later
questions may resolve as follow-ups of earlier ones). Every request must succeed with exactly the answer the same conversation gets
in-process, whose citations hold; latency figures are reported.

The CI run is small. The bigger run behind docs/load.md::

    python -m tests.frontends.test_load --users 40 --per-user 10 --concurrency 1,4 --out docs/load.md
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from assistant import Answer, Assistant
from assistant.citations import check
from assistant.evaluation.dataset import DEFAULT_SET, load_questions
from assistant.settings import Settings
from tests.ui_browser import assistant_serve

REQUEST_TIMEOUT_S = 120.0


@dataclass
class LoadResult:
    """What a load run saw, from the users' side."""

    users: int
    requests: int
    concurrency: int
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    server_cpu_s: float = float("nan")

    def percentile(self, q: float) -> float:
        xs = sorted(self.latencies_ms)
        if not xs:
            return float("nan")
        pos = (len(xs) - 1) * q / 100
        lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    def row(self) -> str:
        return (
            f"| {self.concurrency} | {self.users} | {self.requests} | {len(self.failures)} | "
            f"{self.requests / self.wall_s:.1f} | {self.percentile(50):.0f} | {self.percentile(95):.0f} | "
            f"{max(self.latencies_ms, default=float('nan')):.0f} | {self.wall_s:.1f} | "
            f"{self.server_cpu_s / self.requests * 1000:.0f} |"
        )


HEADER = (
    "| answers at once (`ASSISTANT_UI_CONCURRENCY`) | users | requests | failed | requests/s | "
    "latency median (ms) | p95 (ms) | max (ms) | wall (s) | server CPU per request (ms) |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def conversation(n: int, per_user: int, questions: Sequence[str]) -> tuple[str, ...]:
    """What user ``n`` asks, in order."""
    return tuple(questions[(n * per_user + i) % len(questions)] for i in range(per_user))


Expected = dict[tuple[str, ...], list[str]]


def expected_answers(bot: Assistant, conversations: set[tuple[str, ...]], corpus: str) -> Expected:
    """The plain-text answers each conversation gets in-process (the UI's own ``respond``, with the
    history it keeps), after checking that every answer's citations hold."""
    from assistant.frontends.ui.conversation import respond

    expected: Expected = {}
    for questions in conversations:
        history: list[dict[str, str]] = []
        answers = []
        for question in questions:
            answer: Answer = bot.ask(question, history=history)
            assert check(answer, corpus) == [], question
            *_, (_, _, history, plain) = respond(bot, question, [], history)
            assert plain == answer.format_plain(), question
            answers.append(plain)
        expected[questions] = answers
    return expected


def run_load(
    url: str, questions: Sequence[str], expected: Expected, users: int, per_user: int, concurrency: int
) -> LoadResult:
    """``users`` threads, each with its own client (its own session), ask ``per_user`` questions
    each, all starting together; stops when every thread has asked its questions (or failed)."""
    from gradio_client import Client

    result = LoadResult(users=users, requests=users * per_user, concurrency=concurrency)
    lock = threading.Lock()
    start = threading.Barrier(users + 1)

    def user(n: int) -> None:
        try:
            client = Client(url, verbose=False, httpx_kwargs={"timeout": REQUEST_TIMEOUT_S})
        except Exception as exc:
            with lock:
                result.failures += [f"user {n}: cannot connect: {exc!r}"] * per_user
            start.wait()
            return
        start.wait()
        asked = conversation(n, per_user, questions)
        so_far: list[dict[str, str]] = []  # the user's own conversation, sent with every question
        for i, question in enumerate(asked):
            began = time.perf_counter()
            try:
                answer = client.predict(question, so_far, None, "answer", api_name="/ask")
                plain = answer["plain"]
                so_far += [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": answer["text"]},
                ]
                problem = (
                    ""
                    if plain == expected[asked][i]
                    else f"user {n}, turn {i + 1}: unexpected answer to {question!r}: {plain[:160]!r}"
                )
            except Exception as exc:
                problem = f"{question!r}: {exc!r}"
            took = (time.perf_counter() - began) * 1000
            with lock:
                result.latencies_ms.append(took)
                if problem:
                    result.failures.append(problem)

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT_S * per_user)
    result.wall_s = time.perf_counter() - began
    stuck = sum(thread.is_alive() for thread in threads)
    if stuck:
        result.failures.append(f"{stuck} users still waiting when the run stopped")
    return result


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def served(index_dir: Path, concurrency: int) -> Iterator[tuple[str, int]]:
    """`assistant serve` on a free local port for the duration; yields its URL and process id."""
    with assistant_serve(
        index_dir,
        ASSISTANT_UI_CONCURRENCY=str(concurrency),
        ASSISTANT_UI_USER="",
        ASSISTANT_UI_PASSWORD="",
    ) as app:
        yield app.url, app.process.pid
    assert "Traceback" not in app.output, app.output


def _questions(n: int) -> list[str]:
    return [item.question for item in load_questions(DEFAULT_SET) if not item.history][:n]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:::gradio.queueing")
def test_twenty_users_at_once(bot: Assistant, index_dir: Path, corpus_text: str) -> None:
    questions, users, per_user = _questions(10), 20, 2
    expected = expected_answers(
        bot, {conversation(n, per_user, questions) for n in range(users)}, corpus_text
    )
    concurrency = Settings().ui_concurrency
    with served(index_dir, concurrency) as (url, pid):
        used = cpu_seconds(pid)
        result = run_load(url, questions, expected, users, per_user, concurrency)
        result.server_cpu_s = cpu_seconds(pid) - used
    print(f"\n{HEADER}\n{result.row()}")
    assert result.failures == []
    assert len(result.latencies_ms) == result.requests == 40


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load-test `assistant serve`; write the table as Markdown.")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--questions", type=int, default=40, help="distinct questions, from the eval set")
    parser.add_argument("--concurrency", default="1,4", help="comma list of ASSISTANT_UI_CONCURRENCY values")
    parser.add_argument("--out", type=Path, help="write the results here (Markdown)")
    args = parser.parse_args(argv)
    settings = Settings()
    bot = Assistant(settings).load()
    questions = _questions(args.questions)
    conversations = {conversation(n, p, questions) for n in range(args.users) for p in (1, args.per_user)}
    expected = expected_answers(bot, conversations, bot.corpus)
    from assistant.frontends.ui.conversation import respond

    started = time.process_time()
    updates = sum(len(list(respond(bot, q, [], []))) for q in questions)
    turn_cpu_ms = (time.process_time() - started) / len(questions) * 1000
    del bot
    load_before = os.getloadavg()
    results = []
    for concurrency in (int(c) for c in args.concurrency.split(",")):
        with served(settings.index_dir, concurrency) as (url, pid):
            run_load(url, questions, expected, 2, 1, concurrency)  # warm the server
            for users in (1, args.users):  # alone, then all at once
                used = cpu_seconds(pid)
                results.append(run_load(url, questions, expected, users, args.per_user, concurrency))
                results[-1].server_cpu_s = cpu_seconds(pid) - used
                print(f"{HEADER}\n{results[-1].row()}", flush=True)
    text = "\n".join(
        [
            "# Load test",
            "",
            f"`python -m tests.frontends.test_load --users {args.users} --per-user {args.per_user} --questions "
            f"{args.questions} --concurrency {args.concurrency}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
            f"{args.users} simulated users, each with its own `gradio_client.Client`, start together and ask "
            f"{args.per_user} questions each (from {args.questions} distinct questions of `evals/questions.jsonl`) "
            "through the `/ask` endpoint of `assistant serve` on 127.0.0.1, one after another, each with its "
            "conversation so far (so later questions may resolve as follow-ups of earlier ones); the run stops when every "
            "user has had its answers. A request counts as failed unless its answer is exactly the one the "
            "same conversation gets in-process (whose citations `citations.check` verified). Latency is per "
            "request, from the user's side, until the whole streamed answer has arrived. Each configuration "
            "first serves one user alone, then all of them at once; the simulated users run on the same two "
            "cores as the server, and with everyone asking at once the latency is mostly waiting in line "
            "(users / throughput).",
            "",
            HEADER,
            *(r.row() for r in results),
            "",
            f"In this process, one turn of the UI's `respond` (the answer and its rendering) takes "
            f"{turn_cpu_ms:.0f} ms of CPU and streams {updates / len(questions):.0f} updates on average; the "
            "rest of the server's CPU per request is Gradio sending those updates.",
            "",
            f"Machine: {os.cpu_count()} CPUs; load average {tuple(round(x, 2) for x in load_before)} before "
            f"and {tuple(round(x, 2) for x in os.getloadavg())} after (other work on the machine included).",
            "",
            *(f"- failure: {f}" for r in results for f in r.failures[:10]),
        ]
    )
    if args.out:
        args.out.write_text(text.rstrip() + "\n", encoding="utf-8")
    print(text)
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
