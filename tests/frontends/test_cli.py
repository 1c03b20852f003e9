"""The command line, driven end to end as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _run(args: list[str], index_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir), **env},
    )


def test_ingest_then_ask_with_sources(bot, index_dir: Path) -> None:  # type: ignore[no-untyped-def]
    ingest = _run(["ingest"], index_dir)
    assert ingest.returncode == 0, ingest.stderr
    assert "Index ready:" in ingest.stdout
    ask = _run(["ask", "What did Russia agree to sell China in 2015?"], index_dir)
    assert ask.returncode == 0, ask.stderr
    assert "[1]" in ask.stdout and "Sources:" in ask.stdout and "S-400" in ask.stdout
    assert "Traceback" not in ask.stderr


def test_ask_json_is_the_to_dict_form(bot, index_dir: Path) -> None:  # type: ignore[no-untyped-def]
    out = _run(
        ["ask", "--json", "Who wrote the chapter on Chinese views of joint exercises with Russia?"], index_dir
    )
    data = json.loads(out.stdout)
    assert data == bot.ask("Who wrote the chapter on Chinese views of joint exercises with Russia?").to_dict()


def test_search_and_filters(bot, index_dir: Path) -> None:  # type: ignore[no-untyped-def]
    out = _run(["search", "--json", "-k", "3", "--language", "chinese", "space cooperation"], index_dir)
    hits = json.loads(out.stdout)
    assert len(hits) == 3 and all(h["language"] == "Chinese" for h in hits)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", ""], "error: Please type a question"),
        (["ask", "x" * 100_000], "error: The question is too long"),
        (["ask", "--area", "moon", "anything"], "error: Unknown area 'moon'"),
        (
            ["ask", "--author", "Kashn", "What is the S-400?"],
            "error: No author in the report is called 'Kashn'",
        ),
        (["ask", "--doc", "ch99", "What is the S-400?"], "error: No document has the id 'ch99'"),
        (["search", "--author", "Nobody", "S-400"], "error: No author in the report is called 'Nobody'"),
    ],
)
def test_errors_are_one_line(bot, index_dir: Path, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    out = _run(args, index_dir)
    assert out.returncode == 2
    assert out.stderr.strip().startswith(message)
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_foreign_index_dir_is_reported(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    out = _run(["ask", "What is the ILRS?"], tmp_path)
    assert out.returncode == 2 and "not an index made by this assistant" in out.stderr


def test_chat_remembers_the_conversation(bot, index_dir: Path) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "chat"],
        input="What do Gabuev and Kashin say about the S-400 sale?\nWhen was that published?\n"
        "clear\nWhen was that published?\n\n",
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir)},
    )
    assert proc.returncode == 0, proc.stderr
    before, after = proc.stdout.split("(conversation cleared)")
    assert "November 2, 2017" in before
    # after `clear` nothing is carried over: "that" refers to nothing, and the answer says so
    assert "nothing was asked before it" in after and "Sources:" not in after


def test_info(index_dir: Path, bot) -> None:  # type: ignore[no-untyped-def]
    out = _run(["info"], index_dir)
    assert "current" in out.stdout and str(index_dir) in out.stdout


def test_python_dash_m_assistant_is_the_same_command(bot, index_dir: Path) -> None:  # type: ignore[no-untyped-def]
    out = subprocess.run(
        [sys.executable, "-m", "assistant", "ask", "--json", "What did Russia agree to sell China in 2015?"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir)},
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == bot.ask("What did Russia agree to sell China in 2015?").to_dict()
    bad = subprocess.run(
        [sys.executable, "-m", "assistant", "ask", ""],
        capture_output=True,
        text=True,
        env={**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir)},
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: Please type a question"), bad.stderr


def test_a_closed_pipe_is_quiet_and_a_full_disk_is_one_line(bot, index_dir: Path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir)}
    cmd = [sys.executable, "-m", "assistant", "search", "-k", "50", "--json", "S-400"]
    reader = subprocess.Popen(["head", "-c", "10"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    out = subprocess.run(cmd, stdout=reader.stdin, stderr=subprocess.PIPE, text=True, env=env, timeout=300)
    reader.stdin.close()  # type: ignore[union-attr]
    reader.wait()
    assert out.returncode in (0, 141) and "Traceback" not in out.stderr and "unexpected" not in out.stderr
    with open("/dev/full", "w") as full:
        out = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, text=True, env=env, timeout=300)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == "error: cannot write the output: No space left on device"


def test_show_prints_a_citation_of_the_last_answer_in_context(bot, index_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = {"XDG_STATE_HOME": str(tmp_path)}
    none_yet = _run(["show", "1"], index_dir, **state)
    assert none_yet.returncode == 2 and "no last answer" in none_yet.stderr
    asked = _run(["ask", "What is the ILRS?"], index_dir, **state)
    assert asked.returncode == 0, asked.stderr
    quote = bot.ask("What is the ILRS?").citations[0].quote
    shown = _run(["show", "1", "--before", "2"], index_dir, **state)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("[1] ") and f"»{quote}«" in shown.stdout
    missing = _run(["show", "99"], index_dir, **state)
    assert missing.returncode == 2 and "has no citation [99]" in missing.stderr
