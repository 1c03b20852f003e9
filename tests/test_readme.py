"""The README's code blocks marked ``<!-- runnable -->`` run as written: the Python block against
the test session's index, the shell block line by line through the real command line."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

README = PROJECT_ROOT / "README.md"


def runnable(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"<!-- runnable -->\n```{language}\n(.*?)```", text, flags=re.S)


def test_the_readme_is_short_and_marks_what_runs() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) < 200
    assert runnable("python") and runnable("bash")
    for link in re.findall(r"\]\((docs/[^)#]+)\)", README.read_text(encoding="utf-8")):
        assert (PROJECT_ROOT / link).exists(), link


def test_the_readme_python_runs(bot, index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(index_dir))
    (block,) = runnable("python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), {})
    printed = out.getvalue()
    assert "S-400" in printed and "True" in printed.splitlines()  # the abstention line
    assert "»" in printed and "«" in printed  # the quote marked in its paragraph


def test_the_readme_commands_run(index_dir: Path, tmp_path: Path) -> None:
    (block,) = runnable("bash")
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir), "XDG_STATE_HOME": str(tmp_path)}
    bin_dir = Path(sys.executable).parent
    for line in block.strip().splitlines():
        command = shlex.split(line.split("  #")[0])
        assert command[0] == "assistant"
        out = subprocess.run(
            [str(bin_dir / "assistant"), *command[1:]],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        assert out.returncode == 0, (line, out.stderr)
        assert out.stdout.strip() and "Traceback" not in out.stderr, line
