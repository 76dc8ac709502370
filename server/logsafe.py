"""Logging that keeps protected health information out of the logs.

Note text is never passed to a logger by this package above DEBUG. Two other routes
could still leak it, and both are closed here for every handler of the root logger:
tracebacks (an exception's message may quote a value) are reduced to the exception
type and place unless the level is DEBUG, and ``access_token=...`` in a logged URL
is masked. Uvicorn's access log is switched off (it prints query strings); the
service logs method, path, status and duration itself.
"""
from __future__ import annotations

import logging
import re
import traceback

TOKEN_IN_URL = re.compile(r"(access_token=)[^&\s\"']+")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class PhiSafeFilter(logging.Filter):
    def __init__(self, debug: bool):
        super().__init__()
        self.debug = debug

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not self.debug:
            exc_type, _exc, tb = record.exc_info
            where = traceback.extract_tb(tb)[-1] if tb else None
            place = f" at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}" if where else ""
            record.msg = f"{record.getMessage()} [{getattr(exc_type, '__name__', 'error')}{place}; " \
                         "traceback at DEBUG level]"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        message = record.getMessage()
        if "access_token=" in message:
            record.msg, record.args = TOKEN_IN_URL.sub(r"\1***", message), None
        return True


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    root.setLevel(level)
    if not root.handlers:
        handler: logging.Handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    for handler in root.handlers:
        if not any(isinstance(f, PhiSafeFilter) for f in handler.filters):
            handler.addFilter(PhiSafeFilter(debug=level == "DEBUG"))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):   # propagate to the safe root handlers
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
