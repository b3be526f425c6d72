"""nexus_core.logs: the rotating log file, with secrets redacted before anything is written."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_core.logs import redact, setup_logging

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRETS = ["abcdefgh12345", "sk-or-v1-abcdef123456", "supersecret123", "hunter2hunter2"]


def _nexus_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if h.get_name() == "nexus-file"]


@pytest.fixture(autouse=True)
def clean_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    leftover = _nexus_handlers()  # a handler some earlier test left behind: set aside, put back after
    for handler in leftover:
        root.removeHandler(handler)
    yield
    for handler in _nexus_handlers():  # only what setup_logging added; pytest's handlers stay
        root.removeHandler(handler)
        handler.close()
    for handler in leftover:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)



def test_setup_logging_writes_to_the_file(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "nexus.log"
    handler = setup_logging(log_file, "INFO")
    logging.getLogger("nexus.test").info("hello from the test %d", 42)
    logging.getLogger("nexus.test").debug("too detailed to keep")
    handler.flush()
    text = log_file.read_text(encoding="utf-8")
    assert "hello from the test 42" in text
    assert "nexus.test" in text and "INFO" in text
    assert "too detailed" not in text


def test_setup_logging_twice_adds_one_handler_and_adjusts_level(tmp_path: Path) -> None:
    log_file = tmp_path / "nexus.log"
    first = setup_logging(log_file, "INFO")
    second = setup_logging(log_file, "DEBUG")
    assert first is second
    assert len(_nexus_handlers()) == 1
    assert second.level == logging.DEBUG
    logging.getLogger("nexus.test").warning("only once")
    first.flush()
    assert log_file.read_text(encoding="utf-8").count("only once") == 1


def test_secrets_are_redacted_in_the_file(tmp_path: Path) -> None:
    log_file = tmp_path / "nexus.log"
    handler = setup_logging(log_file, "DEBUG")
    log = logging.getLogger("nexus.secrets")
    log.info("request headers: Authorization: Bearer abcdefgh12345")
    log.info("using key %s for openrouter", "sk-or-v1-abcdef123456")
    log.warning("url was https://x.test/?api_key=supersecret123&q=1")
    log.error("config: {'password': 'hunter2hunter2'}")
    handler.flush()
    text = log_file.read_text(encoding="utf-8")
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into the log file:\n{text}"
    assert "Bearer ***" in text
    assert "sk-or-***" in text  # the provider prefix stays, so the line is still useful
    assert "api_key=***" in text
    assert "for openrouter" in text  # the rest of the message is kept


def test_redact_keeps_ordinary_text() -> None:
    plain = "loaded 3 models in 2.5 s; token count 12; skipping sk-8"
    assert redact(plain) == plain
    assert redact("TOKEN: abcdefghijkl") == "TOKEN: ***"


_TRACEBACK_SCRIPT = """
import logging, sys
from pathlib import Path
from nexus_core.logs import setup_logging
if sys.argv[2] == "console-first":
    logging.basicConfig(stream=sys.stderr)  # an ordinary console handler, set up before the file one
handler = setup_logging(Path(sys.argv[1]), "INFO")
try:
    raise RuntimeError("upstream said: Authorization: Bearer abcdefgh12345 api_key=supersecret123")
except RuntimeError:
    logging.getLogger("nexus.test").exception("request failed")
handler.flush()
"""


def _log_exception_in_child(log_file: Path, mode: str) -> str:
    subprocess.run([sys.executable, "-c", _TRACEBACK_SCRIPT, str(log_file), mode], check=True,
                   cwd=REPO_ROOT, capture_output=True, timeout=60)
    return log_file.read_text(encoding="utf-8")


def test_secrets_in_exception_tracebacks_are_redacted(tmp_path: Path) -> None:
    text = _log_exception_in_child(tmp_path / "nexus.log", "file-only")
    assert "request failed" in text
    assert "Traceback (most recent call last)" in text and "RuntimeError: upstream said" in text
    assert "abcdefgh12345" not in text and "supersecret123" not in text, text


def test_traceback_secrets_are_redacted_even_after_another_handler(tmp_path: Path) -> None:
    text = _log_exception_in_child(tmp_path / "nexus.log", "console-first")
    assert "RuntimeError: upstream said" in text
    assert "abcdefgh12345" not in text and "supersecret123" not in text, text
