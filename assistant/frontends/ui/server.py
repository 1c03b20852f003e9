"""Serving the chat UI: the Gradio app behind the guard, with or without a login, on the
configured host and port."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError
from assistant.frontends.ui.app import TITLE, build_app, import_gradio
from assistant.frontends.ui.assets import CSS, JS
from assistant.settings import Settings

if TYPE_CHECKING:
    import gradio as gr

    from assistant.pipeline import Assistant

log = logging.getLogger(__name__)


def guard_middleware(settings: Settings, *, login: bool) -> Any:
    from starlette.middleware import Middleware

    from assistant.frontends.ui.guard import Guard, LoginLimiter

    return Middleware(Guard, login=login, max_body=settings.ui_max_request_bytes, limiter=LoginLimiter())


def serve(settings: Settings | None = None, bot: Assistant | None = None, *, block: bool = True) -> gr.Blocks:
    """Start the chat UI on ``settings.ui_host:ui_port``; never a public share link.

    A login is required when both ``ui_user`` and ``ui_password`` are set. With ``block=False`` the
    server runs in a background thread and the caller stops it with ``app.close()``.
    """
    settings = settings or Settings()
    gr = import_gradio()
    if bot is None:
        from assistant.pipeline import Assistant

        bot = Assistant(settings).load(progress=True)
    user, password = settings.ui_user, settings.ui_password.get_secret_value()
    auth = (user, password) if user and password else None
    if bool(user) != bool(password):
        log.warning("Login disabled: set both ASSISTANT_UI_USER and ASSISTANT_UI_PASSWORD to require one.")
    if auth is None and settings.ui_host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("The chat UI is reachable from the network on %s without a login.", settings.ui_host)
    # Gradio's own per-endpoint timing summary calls pandas APIs that pandas 3 deprecates
    warnings.filterwarnings("ignore", module=r"gradio\.queueing")
    # Gradio ships a near-empty Source Sans Pro SemiBold, so headings fell back glyph by glyph to
    # another font; registering the full Bold instead gives bold text one face.
    font = gr.themes.LocalFont("Source Sans Pro", weights=(400, 700))
    theme = gr.themes.Default(font=[font, "ui-sans-serif", "system-ui", "sans-serif"])
    app = build_app(bot, login=auth is not None)
    # Assistant.ask is thread-safe (the embedding model takes one question at a time; Chroma and
    # the rest are read-only), so a few answers overlap instead of queueing behind each other
    app.queue(default_concurrency_limit=max(1, settings.ui_concurrency))
    try:
        app.launch(
            server_name=settings.ui_host,
            server_port=settings.ui_port,
            share=False,
            auth=auth,
            auth_message=f"{TITLE}. Sign in with the account your administrator gave you.",
            prevent_thread_lock=True,
            show_error=False,
            quiet=True,
            css=CSS,
            js=JS,
            theme=theme,
            mcp_server=False,
            app_kwargs={"middleware": [guard_middleware(settings, login=auth is not None)]},
        )
    except OSError as exc:
        raise AssistantError(
            f"Cannot serve the chat UI on {settings.ui_host}:{settings.ui_port}: the port is in use or "
            "the address is not available here. Choose another with --host/--port (ASSISTANT_UI_HOST/PORT)."
        ) from exc
    print(f"Chat UI at {app.local_url}{' (login required)' if auth else ''}; Ctrl-C stops it.", flush=True)
    if block:
        app.block_thread()
    return app
