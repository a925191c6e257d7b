"""What a request may bring, enforced before any callback runs: every endpoint is reachable by
strangers once the app listens on a network, so requests are treated as hostile (demo/app.py).

- cost is bounded before work: uploads by `MAX_UPLOAD_BYTES` (Gradio's `max_file_size`, set by
  demo/app.py), every other request body by `MAX_BODY_BYTES` (`RequestGuard`, ASGI middleware);
- a JSON body that names a file by URL is refused: this server fetches nothing on a stranger's behalf;
- the only files opened are the upload components' files (`PhotoInput`, `UploadInput`), which Gradio
  accepts only from its own upload folder; `upload` turns them into `pathlib.Path` (the one place a
  path is trusted) before `core` opens them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import gradio as gr
from gradio.data_classes import ListFiles

from core import limits as L

# A phone photo of a page is 2-6 MB as JPEG, 30 s of speech is under 6 MB even as 48 kHz stereo
# 16-bit WAV (webm/ogg/mp3: well under 1 MB); anything larger is refused while it streams in.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the one file of an upload
# Every other request is JSON: at most a stroke text at core's own limit (escaped once more
# inside the request) plus the canvas raster and the envelope.
MAX_BODY_BYTES = 2 * L.MAX_STROKE_JSON_BYTES
NOT_JSON = "request body is not valid JSON"


# ---------------------------------------------------------------- request bodies


class RequestGuard:
    """Pure ASGI middleware: bounds every request body before the app reads it.

    - multipart bodies (file uploads) may be MAX_UPLOAD_BYTES plus part headers; Gradio's
      `max_file_size` checks each file too, this bounds the whole body;
    - any other body (JSON for /queue/join, /call/..., ...) at most MAX_BODY_BYTES; it is read
      here, then a body that parses as JSON (whatever its Content-Type says: `application/vnd.x+json`
      got past a check of `application/json` alone) and names a FileData by URL is refused: Gradio would download it,
      and this server fetches nothing on a stranger's behalf (files come through /upload).
    A declared Content-Length over the limit is refused unread; bytes are counted as they stream
    in too, so a chunked body cannot exceed it either. Refusals are `{"error": "..."}` with 413/400.
    """

    def __init__(self, app, max_body: int = MAX_BODY_BYTES, max_upload: int = MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD):
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        limit = self.max_upload if multipart else self.max_body
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                return await refuse(send, 400, "Content-Length is not a number")
            if int(declared) > limit:
                return await refuse(send, 413, too_large(int(declared), limit))
        if multipart:
            return await self._stream(scope, receive, send, limit)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                return await refuse(send, 413, too_large(len(body), limit, "at least "))
            if not message.get("more_body"):
                break
        if body:  # whatever it is labelled: FastAPI reads application/*+json, and a body with no type, as JSON too
            reason = remote_file_reason(bytes(body))
            labelled_json = b"json" in headers.get(b"content-type", b"").lower()
            if reason and (labelled_json or reason != NOT_JSON):  # text that is not JSON is not read as JSON anyway
                return await refuse(send, 400, reason)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _stream(self, scope, receive, send, limit: int):
        received, started = 0, False

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def watched(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await refuse(send, 413, too_large(received, limit, "at least "))


class _TooLarge(Exception):
    pass


def too_large(size: int, limit: int, prefix: str = "") -> str:
    return f"request body is {prefix}{size:,} bytes; at most {limit:,} are accepted"


async def refuse(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def remote_file_reason(body: bytes) -> str | None:
    """Why a JSON request body is refused, or None. Numbers are not converted (no cost for
    400-digit integers); nesting too deep for the parser is refused here, not passed on."""
    try:
        data = json.loads(body, parse_int=len, parse_float=len, parse_constant=len)
    except RecursionError:
        return "request JSON is nested too deeply"
    except ValueError:
        return NOT_JSON
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            meta = x.get("meta")
            path = x.get("path")
            if isinstance(meta, dict) and meta.get("_type") == "gradio.FileData" and isinstance(path, str):
                if re.match(r"\s*[a-z][a-z0-9+.-]*://", path, re.IGNORECASE):
                    return "file inputs must be uploaded first (gradio_client's handle_file does it); URLs are not fetched"
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return None


# ---------------------------------------------------------------- uploads


def upload(value: str | None) -> Path | None:
    """An upload component's value -> Path. Gradio hands callbacks only files from its own upload
    folder (it refuses any other path a client names), so this is the one place a str becomes a
    file to open; everywhere else request text stays text."""
    return Path(value) if value else None


class PhotoInput(gr.Image):
    """gr.Image whose callback gets the uploaded file's path unopened: the photo is decoded once,
    by core, after its header is checked against the pixel limit (gr.Image would decode it first)."""

    is_template = True  # the browser draws it as the gr.Image it is

    def preprocess(self, payload):
        """The upload's path, and nothing else: a picture inlined in the request as a data: URL was decoded whole by
        gr.Image before any check (a 383 KB request of 9000x10000 px cost +840 MB; hostile review). The page
        uploads photos and webcam snapshots as files, so only a hand-made request carries one."""
        if payload is None:
            return None
        if (payload.url or "").startswith("data:") or not payload.path:
            raise gr.Error("send the photo as an uploaded file (the page does so); pictures inside the request are not read")
        return payload.path


class UploadInput(gr.File):
    """gr.File for the JSON endpoints: the callback gets the uploaded file's path (gr.File's own
    preprocess also leaves an empty temporary file behind on every call, which no cleanup tracks)."""

    is_template = True  # the same component as gr.File for the browser and gradio_client

    def preprocess(self, payload):
        if payload is None:
            return None
        return (payload[0] if isinstance(payload, ListFiles) else payload).path
