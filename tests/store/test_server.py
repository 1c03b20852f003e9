"""Scale-out on a real Chroma server (`chroma run`): ingest populates it, app processes answer
from it without a local build, a stale or missing index is reported, and a server that goes away
mid-session gives a one-line error and is reconnected to when it returns."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import Assistant, IndexUnavailable
from assistant.citations import check
from assistant.report import REPORT_FILE
from assistant.settings import PROJECT_ROOT, Settings
from assistant.types import Answer, Citation
from tests.ui_browser import free_port

pytestmark = pytest.mark.slow

CHROMA = Path(sys.executable).parent / "chroma"
QUESTION = "What did Xi and Putin announce in February 2022?"


class ChromaServer:
    """`chroma run` on 127.0.0.1: started, stopped and restarted by the tests themselves."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import httpx

        self.process = subprocess.Popen(
            [str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "chroma run exited"
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise TimeoutError("the Chroma server did not start")

    def pause(self) -> None:
        """SIGSTOP: the port stays open and accepts connections, but nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report's first chapters: a server build in seconds."""
    lines = (PROJECT_ROOT / "corpus" / REPORT_FILE).read_text(encoding="utf-8").split("\n")
    end = next(
        i for i, line in enumerate(lines) if line.startswith("### Sino-Russian Military-Technological")
    )
    path = tmp_path_factory.mktemp("corpus") / "small.md"
    path.write_text("\n".join(lines[:end]), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    chroma = ChromaServer(tmp_path_factory.mktemp("chroma-data"))
    chroma.start()
    try:
        yield chroma
    finally:
        chroma.stop()


def _env(server: ChromaServer, corpus: Path, cache: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ASSISTANT_CHROMA_HOST": "127.0.0.1",
        "ASSISTANT_CHROMA_PORT": str(server.port),
        "ASSISTANT_CORPUS_PATH": str(corpus),
        "ASSISTANT_INDEX_DIR": str(cache),
        **extra,
    }


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def _answer(data: dict[str, object]) -> Answer:
    citations = [Citation(**c) for c in data["citations"]]  # type: ignore[arg-type, attr-defined]
    return Answer(
        question=str(data["question"]),
        text=str(data["text"]),
        citations=citations,
        abstained=bool(data["abstained"]),
    )


@pytest.fixture(scope="module")
def ingested(server: ChromaServer, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """`assistant ingest` against the server, after checking an app process is told to run it."""
    env = _env(server, corpus, tmp_path_factory.mktemp("ingest-cache"))
    before = _cli(["ask", QUESTION], env)
    assert before.returncode == 2 and "Traceback" not in before.stderr
    assert re.fullmatch(
        r"error: The Chroma server at 127\.0\.0\.1:\d+ holds no index yet; run: assistant ingest .*\n",
        before.stderr,
    )
    out = _cli(["ingest"], env)
    assert out.returncode == 0, out.stderr
    location = re.search(r"at (chroma://127\.0\.0\.1:\d+/\S+) ", out.stdout)
    assert location, out.stdout
    assert not (Path(env["ASSISTANT_INDEX_DIR"]) / "builds").exists()  # nothing built locally
    again = _cli(["ingest"], env)  # nothing changed: the same build, no rebuild
    assert again.returncode == 0 and location.group(1) in again.stdout
    return location.group(1)


def test_two_app_processes_answer_from_the_server_at_once(
    server: ChromaServer, corpus: Path, ingested: str, tmp_path: Path
) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "assistant", "ask", "--json", QUESTION],
            env=_env(server, corpus, tmp_path / f"app-{n}"),  # fresh directories: no local index at all
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    first, second = (json.loads(out) for out, _ in outputs)
    assert first == second and first["citations"]
    assert check(_answer(first), corpus.read_text(encoding="utf-8")) == []
    info = _cli(["info"], _env(server, corpus, tmp_path / "app-1"))
    assert f"build:     {ingested} (current)" in info.stdout


def test_a_stale_server_index_is_reported(
    server: ChromaServer, corpus: Path, ingested: str, tmp_path: Path
) -> None:
    out = _cli(["ask", QUESTION], _env(server, corpus, tmp_path, ASSISTANT_CHUNK_TARGET_TOKENS="120"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "is out of date (chunk_target_tokens changed); run: assistant ingest" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_server_going_away_mid_session_then_coming_back(
    server: ChromaServer, corpus: Path, ingested: str, tmp_path: Path
) -> None:
    from assistant.frontends.ui.conversation import respond

    settings = Settings(
        chroma_host="127.0.0.1",
        chroma_port=server.port,
        corpus_path=corpus,
        index_dir=tmp_path,
        chroma_timeout=5,
    )
    bot = Assistant(settings).load()
    before = bot.ask(QUESTION)
    assert before.citations
    server.stop()
    try:
        with pytest.raises(IndexUnavailable) as down:
            bot.ask(QUESTION)
        message = str(down.value)
        assert f"The Chroma server at 127.0.0.1:{server.port} is not answering" in message
        assert "\n" not in message and "The next question tries again." in message
        # the chat UI shows the same one line, not a traceback
        *_, (_, chat, _, plain) = respond(bot, QUESTION, [], [])
        assert plain == "" and "ta-error" in chat[-1]["content"] and "is not answering" in chat[-1]["content"]
    finally:
        server.start()
    assert bot.ask(QUESTION).to_dict() == before.to_dict()  # the same Assistant, reconnected


def test_the_command_line_chat_survives_an_outage(
    server: ChromaServer, corpus: Path, ingested: str, tmp_path: Path
) -> None:
    chat = subprocess.Popen(
        [sys.executable, "-m", "assistant", "chat"],
        env=_env(server, corpus, tmp_path, ASSISTANT_CHROMA_TIMEOUT="5"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert chat.stdin and chat.stdout
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(chat.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def ask_and_wait(question: str, expect: str) -> None:
        assert chat.stdin
        chat.stdin.write(question + "\n")
        chat.stdin.flush()
        deadline = time.monotonic() + 300
        while expect not in "".join(seen):
            assert time.monotonic() < deadline, "".join(seen)
            assert chat.poll() is None, "".join(seen)
            time.sleep(0.1)
        seen.clear()

    try:
        ask_and_wait(QUESTION, "Sources:")
        server.stop()
        try:
            ask_and_wait(QUESTION, "is not answering")
        finally:
            server.start()
        ask_and_wait(QUESTION, "Sources:")
        assert chat.stdin
        chat.stdin.write("\n")
        chat.stdin.flush()
        assert chat.wait(timeout=60) == 0
    finally:
        if chat.poll() is None:
            chat.kill()
    reader.join(timeout=10)
    assert "Traceback" not in "".join(seen)


def test_a_rebuild_while_serving(server: ChromaServer, corpus: Path, ingested: str, tmp_path: Path) -> None:
    """Two newer builds of the same settings retire the one in use: the running Assistant moves to
    the current build (the same chunks) without an error."""
    from assistant.store.build import compute_build
    from assistant.store.server import publish

    settings = Settings(
        chroma_host="127.0.0.1", chroma_port=server.port, corpus_path=corpus, index_dir=tmp_path
    )
    bot = Assistant(settings).load()
    before = bot.ask(QUESTION).to_dict()
    built = compute_build(settings)
    first = publish(settings, built)
    assert bot.ask(QUESTION).to_dict() == before  # its build is kept as the previous one
    second = publish(settings, built)
    assert first["build"] != second["build"]
    assert bot.ask(QUESTION).to_dict() == before  # its build is gone; it follows the current one
    assert bot.index.collection.name == second["collection"]


def test_a_hung_server_fails_each_question_within_the_timeout(
    server: ChromaServer, corpus: Path, ingested: str, tmp_path: Path
) -> None:
    """A paused server (SIGSTOP) accepts connections and never answers: every question, in a
    running process and in a fresh one, fails with the one-line message within the timeout, and
    the same Assistant answers again once the server resumes."""
    timeout = 3.0
    settings = Settings(
        chroma_host="127.0.0.1",
        chroma_port=server.port,
        corpus_path=corpus,
        index_dir=tmp_path,
        chroma_timeout=timeout,
    )
    bot = Assistant(settings).load()
    before = bot.ask(QUESTION).to_dict()
    server.pause()
    try:
        for _ in range(3):  # the first fails on the open connection, the next ones on reconnecting
            started = time.monotonic()
            with pytest.raises(IndexUnavailable) as hung:
                bot.ask(QUESTION)
            waited = time.monotonic() - started
            assert waited < 2 * timeout + 1, waited
            assert "is not answering" in str(hung.value) and "\n" not in str(hung.value)
        started = time.monotonic()
        out = _cli(["ask", QUESTION], _env(server, corpus, tmp_path / "cli", ASSISTANT_CHROMA_TIMEOUT="3"))
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert "is not answering" in out.stderr and len(out.stderr.strip().splitlines()) == 1
        assert time.monotonic() - started < 60  # start-up (model, analysis) plus one bounded wait
    finally:
        server.resume()
    assert bot.ask(QUESTION).to_dict() == before
