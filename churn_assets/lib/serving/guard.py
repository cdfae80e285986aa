"""The service's front door: API-key auth, a body-size limit enforced before anything is
buffered or parsed, a per-worker in-flight limit, and 4xx (never 5xx) for malformed bodies.

An ASGI middleware (``ChurnService`` adds it with ``add_asgi_middleware``), inside BentoML's
request metrics, so a rejection is counted by status code on ``/metrics`` like any response.
Settings, from the environment (docs/serving.md):

==================================  =====================================================
``CHURN_SERVICE_API_KEYS``          comma-separated keys; set (or the file below): every
                                    route but ``/livez``, ``/readyz`` (and ``/metrics`` if
                                    open) needs ``Authorization: Bearer <key>`` or
                                    ``X-API-Key: <key>``. Unset: no auth (a laptop).
``CHURN_SERVICE_API_KEYS_FILE``     a file with one key a line (a mounted secret)
``CHURN_SERVICE_METRICS_OPEN``      ``1``: ``/metrics`` needs no key (default: it does)
``CHURN_SERVICE_MAX_BODY_BYTES``    request body limit (default 8 MiB: a full 5,000-row
                                    batch is ~2.6 MB even indented) -> 413
``CHURN_SERVICE_MAX_IN_FLIGHT``     requests in flight per worker (default 128) -> 503
                                    with ``Retry-After``
==================================  =====================================================

Why here and not BentoML's ``traffic.max_concurrency``: that answers 429 without
``Retry-After`` and without saying which setting to change. Why the body is read here: the
limit must hold for a chunked body (no ``Content-Length``) too, so the bytes are counted as
they arrive and the request is refused the moment it passes the limit; BentoML then reads the
same (bounded) bytes from memory. BentoML 1.4.39 answers 500 for a body its JSON parser
rejects on a list-typed route (``/predict_batch``: ``json.loads`` outside pydantic); such a
500 is replaced by the 400 ``/predict`` gives, after checking the body is indeed not JSON.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KEYS_ENV = "CHURN_SERVICE_API_KEYS"
KEYS_FILE_ENV = "CHURN_SERVICE_API_KEYS_FILE"
METRICS_OPEN_ENV = "CHURN_SERVICE_METRICS_OPEN"
MAX_BODY_ENV = "CHURN_SERVICE_MAX_BODY_BYTES"
MAX_IN_FLIGHT_ENV = "CHURN_SERVICE_MAX_IN_FLIGHT"
DEFAULT_MAX_BODY = 8 * 1024 * 1024
DEFAULT_MAX_IN_FLIGHT = 128
HEALTH = frozenset({"/livez", "/readyz", "/healthz"})
# BentoML's own routes that take no body from a client: not counted against the limit.
SYSTEM = frozenset({*HEALTH, "/metrics", "/", "/docs.json", "/schema.json"})
FORMS = ("multipart/", "application/x-www-form-urlencoded")
RETRY_AFTER_S = 1

logger = logging.getLogger("churn_service.guard")


class GuardError(ValueError):
    """A guard setting is invalid (raised when the worker starts)."""


def load_keys(environ: MutableMapping[str, str] | None = None) -> tuple[bytes, ...]:
    """The API keys from ``CHURN_SERVICE_API_KEYS`` and ``CHURN_SERVICE_API_KEYS_FILE``."""
    env = os.environ if environ is None else environ
    keys = [k.strip() for k in env.get(KEYS_ENV, "").split(",") if k.strip()]
    if env.get(KEYS_FILE_ENV):
        path = Path(env[KEYS_FILE_ENV])
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise GuardError(
                f"{KEYS_FILE_ENV}={path} cannot be read ({exc}): mount the secret there or "
                f"unset {KEYS_FILE_ENV}"
            ) from exc
        keys += [k.strip() for k in lines if k.strip() and not k.lstrip().startswith("#")]
        if not keys:
            raise GuardError(f"{KEYS_FILE_ENV}={path} holds no key (one key a line)")
    return tuple(k.encode("utf-8") for k in keys)


def _int_setting(env: MutableMapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise GuardError(f"{name}={raw!r} must be a positive integer (unset for {default})")
    return value


class Guard:
    """The ASGI middleware: see the module docstring for what it refuses and why."""

    def __init__(self, app: ASGIApp, environ: MutableMapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        self.app = app
        self.keys = load_keys(env)
        self.metrics_open = env.get(METRICS_OPEN_ENV, "") == "1"
        self.max_body = _int_setting(env, MAX_BODY_ENV, DEFAULT_MAX_BODY)
        self.max_in_flight = _int_setting(env, MAX_IN_FLIGHT_ENV, DEFAULT_MAX_IN_FLIGHT)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path in HEALTH:
            await self.app(scope, receive, send)
            return
        guarded = self.keys and not (path == "/metrics" and self.metrics_open)
        if guarded and not self._authorized(scope):
            await _reply(send, 401, _UNAUTHORIZED, [(b"www-authenticate", b"Bearer")])
            return
        if path in SYSTEM or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            detail = (
                f"more than {self.max_in_flight} requests in flight on this worker "
                f"({MAX_IN_FLIGHT_ENV}); retry after {RETRY_AFTER_S} s"
            )
            retry = [(b"retry-after", str(RETRY_AFTER_S).encode())]
            await _reply(send, 503, {"error": "overloaded", "detail": detail}, retry)
            return
        self.in_flight += 1
        try:
            await self._with_body(scope, receive, send)
        finally:
            self.in_flight -= 1

    def _authorized(self, scope: Scope) -> bool:
        given = b""
        for name, value in scope.get("headers", ()):
            if name == b"x-api-key":
                given = value.strip()
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].strip()
        if not given:
            return False
        # Every key compared, each in constant time: neither which key nor how much of it
        # matched shows in the response time.
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(given, key)
        return matched

    async def _with_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", ()))
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        if media.startswith(FORMS):
            detail = (
                f"this service takes JSON bodies only, not {media}: send "
                "`Content-Type: application/json` (docs at /docs.json)"
            )
            await _reply(send, 415, {"error": "unsupported media type", "detail": detail})
            return
        length = headers.get(b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                await _reply(send, 400, {"error": "bad Content-Length", "detail": str(length)})
                return
            if int(length) > self.max_body:
                await self._too_large(send, int(length))
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._too_large(send, size)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        await self.app(scope, _replay(body, receive), _ClientErrors(send, body, media))

    async def _too_large(self, send: Send, size: int) -> None:
        detail = (
            f"the request body is over the limit of {self.max_body:,} bytes (at least "
            f"{size:,} sent); send fewer rows per request (/predict_batch takes up to 5,000, "
            f"/bulk/predict 100,000) or raise {MAX_BODY_ENV}"
        )
        await _reply(send, 413, {"error": "request body too large", "detail": detail})


_UNAUTHORIZED = {
    "error": "unauthorized",
    "detail": (
        "this service needs an API key: send `Authorization: Bearer <key>` or "
        f"`X-API-Key: <key>` (the keys are set by {KEYS_ENV} or {KEYS_FILE_ENV}); "
        "/livez and /readyz need none"
    ),
}


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body read already, then the client's own
    messages (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _ClientErrors:
    """A ``send`` that turns BentoML's 500 for a non-JSON body into the 400 it is."""

    def __init__(self, send: Send, body: bytes, media: str):
        self.send, self.body, self.media = send, body, media
        self.replaced = False

    async def __call__(self, message: Message) -> None:
        if self.replaced:
            return  # the app's own 500 body, replaced already
        if message["type"] == "http.response.start" and message["status"] == 500:
            reason = _not_json(self.body)
            if reason is not None:
                self.replaced = True
                detail = [{"type": "json_invalid", "loc": [], "msg": f"Invalid JSON: {reason}"}]
                await _reply(self.send, 400, {"error": "malformed JSON body", "detail": detail})
                return
        await self.send(message)


def _not_json(body: bytes) -> str | None:
    """Why ``body`` is not a JSON document (``None`` if it is)."""
    try:
        json.loads(body or b"{}")
    except UnicodeDecodeError:
        return "the body is not UTF-8 text"
    except ValueError as exc:
        return str(exc)
    return None


async def _reply(
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: tuple[tuple[bytes, bytes], ...] | list[tuple[bytes, bytes]] = (),
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class QuietClientErrors(logging.Filter):
    """BentoML logs every 400 as an ERROR with a traceback whose pydantic message quotes the
    rejected values (customer ids among them). This filter rewrites such a record into one
    INFO line: route, error count, and per error the field and the error type, no value."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        reason = _client_error(exc)
        if reason is None:
            return True
        path = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.msg, record.args = "400 on %s: %s", (path, reason)
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def _client_error(exc: BaseException) -> str | None:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        fields = ", ".join(
            f"{'.'.join(map(str, e['loc'])) or '(body)'} ({e['type']})" for e in exc.errors()[:10]
        )
        return f"{exc.error_count()} validation error(s) for {exc.title}: {fields}"
    if isinstance(exc, UnicodeDecodeError):
        return "the body is not UTF-8 text"
    if isinstance(exc, json.JSONDecodeError):
        return f"malformed JSON ({exc.msg} at char {exc.pos})"
    return None


def quiet_client_errors() -> None:
    """Install :class:`QuietClientErrors` on the logger BentoML reports request errors with
    (idempotent)."""
    target = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, QuietClientErrors) for f in target.filters):
        target.addFilter(QuietClientErrors())
