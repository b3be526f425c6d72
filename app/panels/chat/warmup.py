"""Pay the first-use costs of Markdown, syntax highlighting and Qt's text layout while the pane opens.

Each costs tens of milliseconds the first time (regex compilation, lexer imports, font loading); paid
during the first streamed answer they would be visible stalls.
"""

from __future__ import annotations

import threading

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from PySide6.QtGui import QTextDocument

from app.panels.chat.markdown_render import MarkdownRenderer

SAMPLE = ("# Title\n\n**bold** *italic* `code` [link](https://example.com)\n\n- item\n\n1. item\n\n> quote\n\n"
          "| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nx = 1\n```\n")
COMMON_LANGUAGES = ("python", "bash", "javascript", "typescript", "json", "sql", "c", "cpp", "rust", "go", "java",
                    "yaml", "html", "css", "diff", "toml")
_lexers_started = threading.Event()


def warm_up(renderer: MarkdownRenderer) -> None:
    document = QTextDocument()
    document.setHtml(renderer.render_source(SAMPLE, highlight=False).html)
    document.setTextWidth(600)
    document.size()  # forces the layout, and with it the fonts
    if not _lexers_started.is_set():
        _lexers_started.set()
        threading.Thread(target=_load_lexers, name="chat-lexers", daemon=True).start()


def _load_lexers() -> None:
    """Off the GUI thread: import each lexer and compile its rules (pygments does both on first use)."""
    formatter = HtmlFormatter(noclasses=True, nowrap=True)
    for name in COMMON_LANGUAGES:
        try:
            highlight("x = 1\n", get_lexer_by_name(name), formatter)
        except Exception:  # a missing lexer only means that language is not coloured
            continue
