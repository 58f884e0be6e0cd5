"""The daemon's log lines: every one on one line, no token in any. A bad request from outside
(an aborted websocket handshake, a request line of 8 KB) made aiohttp log a traceback per
request, with the request line, and so a `?token=` in it, inside."""
from __future__ import annotations

import logging
import re
import sys

TOKEN = re.compile(r"((?:token=|[Bb]earer\s+))[^\s&'\"]+")
MAX_CHARS = 400
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_FROM_OUTSIDE = ("aiohttp.", "websockets.")  # loggers whose errors are about a caller's bytes, not ours


class OneLineNoTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.name.startswith(_FROM_OUTSIDE):  # one line: what went wrong, not where in aiohttp
            if record.exc_info:
                error = record.exc_info[1]
                text = f"{text}: {type(error).__name__}: {error}"
                record.exc_info = record.exc_text = None
            text = " ".join(text.split())[:MAX_CHARS]
        record.msg, record.args = TOKEN.sub(r"\1<redacted>", text), None
        return True


def setup(level: int = logging.INFO) -> None:
    """Logging to stderr for the daemon and its workers."""
    logging.basicConfig(level=level, stream=sys.stderr, format=FORMAT)
    for handler in logging.getLogger().handlers:
        handler.addFilter(OneLineNoTokens())
