"""Log lines: one line for a caller's bad request, never a token."""
import logging

from gametap.core.logs import OneLineNoTokens


def record(name: str, msg: str, exc: Exception | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc else None
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, exc_info)


def test_a_bad_request_from_outside_is_one_line_without_its_token():
    long_line = "GET /api/matches?token=s3cret-admin-token&x=" + "y" * 8000
    r = record("aiohttp.server", "Error handling request", ValueError(f"Got more than 8190 bytes\n{long_line}"))
    assert OneLineNoTokens().filter(r)
    text = r.getMessage()
    assert "s3cret" not in text and "token=<redacted>" in text and "\n" not in text and len(text) <= 400
    assert r.exc_info is None  # no traceback


def test_our_own_errors_keep_their_traceback_but_lose_tokens():
    try:
        raise RuntimeError("boom")
    except RuntimeError as e:
        r = logging.LogRecord("gametap.worker.match", logging.ERROR, __file__, 1, "Bearer abc.def failed", None,
                              (type(e), e, e.__traceback__))
    assert OneLineNoTokens().filter(r)
    assert r.getMessage() == "Bearer <redacted> failed" and r.exc_info is not None
