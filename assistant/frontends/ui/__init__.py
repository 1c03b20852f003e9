"""The chat UI (Gradio, an optional extra imported only when serving)."""
