"""The rotating log file in the data folder, with secrets redacted before anything is written."""

from __future__ import annotations

import logging
import logging.handlers
import re
import threading
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"
_HANDLER_NAME = "nexus-file"

# Shapes of credentials that must never reach a log: bearer tokens, provider API keys, key=value secrets.
_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\b(sk-(?:ant-|or-|proj-)?)[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?key|token|secret|password|passphrase)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]{4,}"),
]


# Exact secret values the app holds (from the credential store); the patterns above only catch known shapes.
_MIN_REGISTERED_LENGTH = 6
_registered_lock = threading.Lock()
_registered_secrets: set[str] = set()
_registered_pattern: re.Pattern[str] | None = None


def register_secret(value: str) -> None:
    """Make ``redact`` mask this exact value from now on.

    Values shorter than 6 characters are ignored: masking them would garble ordinary words in the log.
    """
    global _registered_pattern
    if not isinstance(value, str) or len(value) < _MIN_REGISTERED_LENGTH:
        return
    with _registered_lock:
        if value in _registered_secrets:
            return
        _registered_secrets.add(value)
        # Longest first, so a secret that contains another is masked whole rather than in pieces.
        ordered = sorted(_registered_secrets, key=len, reverse=True)
        _registered_pattern = re.compile("|".join(re.escape(v) for v in ordered))


def redact(text: str) -> str:
    registered = _registered_pattern  # one read of the reference: no lock needed on the logging path
    if registered is not None:
        text = registered.sub("***", text)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


class RedactingFormatter(logging.Formatter):
    """Masks secrets in the final text of each record, traceback included.

    Redacting the formatted output (not the record) also covers a traceback that another handler
    formatted and cached on the record before this one ran.
    """

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(log_file: Path, level: str = "INFO", *, max_bytes: int = 2_000_000,
                  backups: int = 5) -> logging.Handler:
    """Attach the rotating file handler to the root logger; a later call for the same file only adjusts
    the level, one for another data folder's file moves the log there."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            if Path(getattr(handler, "baseFilename", "")) == log_file.resolve():
                handler.setLevel(level)
                return handler
            root.removeHandler(handler)
            handler.close()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(log_file, maxBytes=max_bytes, backupCount=backups,
                                                   encoding="utf-8")
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(RedactingFormatter(LOG_FORMAT))
    handler.setLevel(level)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.getLevelName(level):
        root.setLevel(level)
    logging.captureWarnings(True)
    for chatty in ("httpx", "httpx2", "httpcore"):  # a line per HTTP request: the call records say more, and
        # formatting them costs the local server time on every request
        if logging.getLogger(chatty).level == logging.NOTSET:
            logging.getLogger(chatty).setLevel(logging.WARNING)
    return handler
