"""Importing the package stays light: no torch, Chroma or Gradio until they are needed."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_light() -> None:
    code = (
        "import sys, assistant; from assistant import Answer, Citation, Settings;"
        "heavy = [m for m in ('torch', 'chromadb', 'gradio', 'sentence_transformers') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names() -> None:
    import assistant

    assert assistant.Assistant.__name__ == "Assistant"
    assert set(assistant.__all__) >= {"Assistant", "Answer", "Citation", "Settings", "AssistantError"}
