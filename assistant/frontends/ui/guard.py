"""What stands in front of the chat UI's web app: request size, the login's rate limit, and the
rule that with a login every state-changing request needs it.

An ASGI middleware, installed through ``launch(app_kwargs={"middleware": ...})`` so it sees every
request before Gradio does:

- a request body larger than ``ui_max_request_bytes`` is refused (413) before it is read whole;
- failed logins are counted per client address: after ``FREE_ATTEMPTS`` failures each further
  attempt waits twice as long as the one before (1 s, 2 s, 4 s … up to ``MAX_DELAY_S``), refused
  with 429 and ``Retry-After`` without checking the password; every failure is logged; a success
  clears the count;
- with a login, a POST other than the login itself needs a signed-in session (Gradio's own routes
  such as ``/gradio_api/cancel`` and ``/gradio_api/reset`` do not check it).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FREE_ATTEMPTS = 3
"""Failed logins a client may make before it has to wait (typing mistakes happen)."""
MAX_DELAY_S = 300.0
LOGIN_PATHS = ("/login", "/login/")


@dataclass
class LoginLimiter:
    """Failed logins per client, and when each client may try again."""

    free: int = FREE_ATTEMPTS
    max_delay: float = MAX_DELAY_S
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, client: str) -> float:
        """Seconds this client must wait before its next attempt (0: it may try now)."""
        with self._lock:
            _, allowed_at = self._failures.get(client, (0, 0.0))
        return max(0.0, allowed_at - self.clock())

    def failed(self, client: str) -> tuple[int, float]:
        """Count a failure; returns (failures so far, seconds until the next attempt)."""
        with self._lock:
            count = self._failures.get(client, (0, 0.0))[0] + 1
            delay = 0.0 if count < self.free else min(self.max_delay, 2.0 ** (count - self.free))
            self._failures[client] = (count, self.clock() + delay)
            if len(self._failures) > 10_000:  # bounded memory under a spray of addresses
                oldest = min(self._failures, key=lambda c: self._failures[c][1])
                del self._failures[oldest]
        return count, delay

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


class Guard:
    """The ASGI middleware; ``login`` says whether the app has a login at all."""

    def __init__(self, app: ASGIApp, *, login: bool, max_body: int, limiter: LoginLimiter) -> None:
        self.app = app
        self.login = login
        self.max_body = max_body
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            await _reply(send, 413, f"The request is too large (over {self.max_body:,} bytes).")
            return
        path, method = scope.get("path", ""), scope.get("method", "")
        client = (scope.get("client") or ("unknown", 0))[0]
        if self.login and path in LOGIN_PATHS and method == "POST":
            await self._login(scope, _bounded(receive, self.max_body), send, client)
            return
        if self.login and method == "POST" and not _signed_in(scope, headers):
            await _reply(send, 401, "Sign in first.")
            return
        started: list[bool] = []

        async def tracked(message: Message) -> None:
            started.append(True)
            await send(message)

        try:
            await self.app(scope, _bounded(receive, self.max_body), tracked)
        except TooLarge:
            if not started:
                await _reply(send, 413, f"The request is too large (over {self.max_body:,} bytes).")

    async def _login(self, scope: Scope, receive: Receive, send: Send, client: str) -> None:
        wait = self.limiter.wait(client)
        if wait > 0:
            retry = str(math.ceil(wait))
            await _reply(
                send,
                429,
                f"Too many failed sign-ins; try again in {retry} s.",
                [(b"retry-after", retry.encode())],
            )
            return
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, watch)
        if status and status[0] == 200:
            self.limiter.succeeded(client)
        elif status and 400 <= status[0] < 500:
            count, delay = self.limiter.failed(client)
            log.warning(
                "Failed sign-in from %s (%d in a row; next attempt allowed in %.0f s)", client, count, delay
            )


class TooLarge(Exception):
    """A body without a declared length grew past the limit while it was read."""


def _bounded(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise TooLarge(f"request body over {limit:,} bytes")
        return message

    return wrapped


def _signed_in(scope: Scope, headers: dict[str, str]) -> bool:
    app = scope.get("app")
    tokens = getattr(app, "tokens", None)
    cookie_id = getattr(app, "cookie_id", None)
    if not isinstance(tokens, dict) or cookie_id is None:
        return False
    jar = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except CookieError:
        return False
    for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
        if name in jar and jar[name].value in tokens:
            return True
    return False


async def _reply(
    send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
