"""The web app's one error contract: every failure becomes one line with no server folders in it, JSON clients get
it as `{"error": ...}`, and a tab shows it as text, never markup (demo/app.py, demo/teach.py)."""

from __future__ import annotations

import html
import logging
import re

from core import DataError, InputError

log = logging.getLogger("demo")
MESSAGE_CHARS = 300  # one line on the page or in {"error": ...}

_DIRS = re.compile(r"(?<![\w.:/])(?:[A-Za-z]:)?[\\/](?:[^\\/\s'\"]+[\\/])+")


def clean(message: str) -> str:
    """One line with no server folders in it: `/tmp/gradio/ab12/x.png` -> `x.png`."""
    one = " ".join(_DIRS.sub("", str(message)).split())
    return one if len(one) <= MESSAGE_CHARS else one[: MESSAGE_CHARS - 1] + "…"


def error_text(e: Exception) -> str:
    """Any failure -> one line without server paths; unexpected ones are logged with their traceback."""
    if isinstance(e, (InputError, DataError)):
        return clean(str(e))
    log.exception("unexpected error in a callback")
    return f"this input could not be read (internal {type(e).__name__}; the server logged it)"


_MARKUP = re.compile(r"([\\`*_\[\]()#!|~/])")  # Markdown's own punctuation (links, images, code, emphasis)


def page_text(message: str) -> str:
    """Text safe to show in gr.Markdown: HTML escaped and Markdown's punctuation backslashed, so nothing a request or
    a file holds becomes markup (a profile's "version" made an <img> beacon and a page-wide <a>; hostile review)."""
    return _MARKUP.sub(r"\\\1", html.escape(message, quote=False))


def friendly(e: Exception) -> str:
    """The one-line message a tab shows (as text, never markup)."""
    return f"⚠️ {page_text(error_text(e))}"
