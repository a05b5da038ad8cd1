"""The HTTP shell's guards at the edge: request bodies bounded before they are read, and security headers.

Bodies: a request whose `Content-Length` is over the limit is answered 413 problem details at once, its body never
read; a body sent without a length (chunked) is counted as it arrives and refused the moment it passes the limit.
JSON and form bodies get `EDMS_MAX_BODY_BYTES` (2 MiB: the longest card text is far below), every other body —
files, packages, CSV — `EDMS_MAX_UPLOAD_BYTES` (1 GiB: a backstop above the services' own limits, such as the
registry's 100 MiB per attachment, which answer 413 naming the field). Before, a 50 MB JSON body was read whole and
then refused with 422.

Headers (OWASP Secure Headers): no content sniffing, no framing, no referrer, nothing stored by caches (the API
answers with what a person may read), and a content security policy that allows nothing (an API returns data,
never a page); the API docs pages may load what the service itself serves (edms_runtime.apidocs: nothing comes
from a CDN).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Content types bounded by the smaller limit: what a JSON API takes.
SMALL_BODIES = (b"application/json", b"application/x-www-form-urlencoded", b"")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=31536000"),
]
API_POLICY = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
#: The docs pages' policy: everything from the service itself. Images may also be `data:` URIs (Swagger UI's icons
#: are SVG data URIs in its CSS), styles inline (ReDoc and Swagger UI add `<style>` elements at run time), and
#: ReDoc's search runs in a `blob:` worker. Scripts: the service's own files only, never inline.
DOCS_POLICY = (
    b"content-security-policy",
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; "
    b"frame-ancestors 'none'",
)
DOCS_PAGES = ("/docs", "/redoc")


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Pure ASGI middleware: 413 for a body over its limit, before (or as soon as) it is read."""

    def __init__(self, app: ASGIApp, *, small: int, large: int) -> None:
        self.app = app
        self.small = small
        self.large = large

    def limit_for(self, scope: Scope) -> int:
        headers = dict(scope.get("headers", []))
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        small = media_type in SMALL_BODIES or media_type.endswith(b"+json")
        return self.small if small else self.large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _too_large(send, limit)
            return
        received = 0
        exceeded = replaced = started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            """Once the body went over, whatever the app answers (FastAPI turns a failed read into 400) is 413."""
            nonlocal started, replaced
            if exceeded and not started:
                started = replaced = True
                await _too_large(send, limit)
                return
            if replaced:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:
                return
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    reason = f"the request body is larger than {limit} bytes"
    body = json.dumps(
        {
            "type": "https://edms.example/problems/413",
            "title": "Content Too Large",
            "status": 413,
            "detail": reason,
            "errors": [{"field": "<body>", "reason": reason}],
        }
    ).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Pure ASGI middleware adding the security headers to every answer that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        docs = path in DOCS_PAGES or path.startswith("/docs/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [*SECURITY_HEADERS, (b"cache-control", b"no-store")]
                extra.append(DOCS_POLICY if docs else API_POLICY)
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
