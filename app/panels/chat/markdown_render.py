"""Markdown → the HTML subset Qt's rich text understands, with highlighted code blocks and Copy links.

Model output is untrusted: raw HTML is escaped (markdown-it ``html=False``), images become links (Qt
would never fetch them anyway) and only http(s)/mailto links are ever opened, by the caller.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

COPY_SCHEME = "nexus-copy:"  # href of a code block's Copy link: nexus-copy:<index in the message>
HIGHLIGHT_LIMIT = 8000  # longer code blocks stay plain: colouring them would stall the GUI thread


@dataclass(frozen=True)
class CodePalette:
    background: str
    header: str
    border: str
    muted: str
    inline_background: str
    pygments_style: str


PALETTES = {
    "light": CodePalette("#f6f8fa", "#eaeef2", "#d0d7de", "#5b6470", "#eef0f3", "default"),
    "dark": CodePalette("#0f1217", "#23272e", "#3a404a", "#9aa3ad", "#2b3038", "github-dark"),
}


@dataclass(frozen=True)
class Rendered:
    html: str
    codes: tuple[str, ...]  # the code of each code block, in order, exactly as a Copy puts it on the clipboard


def code_text(token_content: str) -> str:
    """A fence's content without the newline that ends its last line: what a user means by "the code"."""
    return token_content[:-1] if token_content.endswith("\n") else token_content


class MarkdownRenderer:
    """One parser and formatter per theme; ``render`` keeps no state between calls."""

    def __init__(self, theme: str = "light") -> None:
        self.palette = PALETTES["dark" if theme == "dark" else "light"]
        self._formatter = HtmlFormatter(noclasses=True, nowrap=True, style=self.palette.pygments_style)
        self._md = (MarkdownIt("commonmark", {"html": False, "breaks": True, "typographer": False})
                    .enable("table").enable("strikethrough"))
        for rule, function in (("fence", _code_block), ("code_block", _code_block), ("code_inline", _code_inline),
                               ("image", _image), ("table_open", _table_open)):
            self._md.add_render_rule(rule, function)

    def parse(self, source: str) -> list[Token]:
        return self._md.parse(source, {})

    def render(self, tokens: Sequence[Token], *, first_code: int = 0, highlight: bool = True) -> Rendered:
        """HTML for ``tokens``; Copy links are numbered from ``first_code`` (earlier blocks of the message)."""
        codes: list[str] = []
        env: dict[str, Any] = {"owner": self, "codes": codes, "first_code": first_code, "highlight": highlight}
        body = self._md.renderer.render(list(tokens), self._md.options, env)
        return Rendered(body, tuple(codes))

    def render_source(self, source: str, *, first_code: int = 0, highlight: bool = True) -> Rendered:
        return self.render(self.parse(source), first_code=first_code, highlight=highlight)

    def highlight(self, code: str, language: str) -> str:
        if not language or len(code) > HIGHLIGHT_LIMIT:
            return html.escape(code, quote=False)
        try:
            lexer = get_lexer_by_name(language)
        except ClassNotFound:
            return html.escape(code, quote=False)
        return pygments_highlight(code, lexer, self._formatter).rstrip("\n")

    def code_piece(self, code: str, language: str, index: int, *, header: bool = True, last: bool = True,
                   highlight: bool = True) -> str:
        """A code block, or one piece of a long one: pieces stack without a seam (no borders, no gaps)."""
        p = self.palette
        parts = []
        if header:
            parts.append(f'<table width="100%" cellspacing="0" cellpadding="5" border="0" bgcolor="{p.header}" '
                         f'style="margin-top: 4px;"><tr>'
                         f'<td><span style="color: {p.muted};">{html.escape(language or "code")}</span></td>'
                         f'<td align="right"><a href="{COPY_SCHEME}{index}">Copy</a></td></tr></table>')
        body = self.highlight(code, language) if highlight else html.escape(code, quote=False)
        padding = f"{8 if header else 0}px 8px {8 if last else 0}px 8px"
        parts.append(f'<table width="100%" cellspacing="0" cellpadding="0" border="0" bgcolor="{p.background}" '
                     f'style="margin-bottom: {8 if last else 0}px;"><tr><td style="padding: {padding};">'
                     f'<pre style="margin: 0; white-space: pre-wrap;">{body}</pre></td></tr></table>')
        return "".join(parts)


def language_of(info: str) -> str:
    return info.strip().split(maxsplit=1)[0] if info.strip() else ""


# ---- render rules: markdown-it binds them to its renderer; ``env["owner"]`` is the MarkdownRenderer ------------

def _code_block(_renderer: Any, tokens: Sequence[Token], idx: int, _options: Any, env: dict) -> str:
    owner: MarkdownRenderer = env["owner"]
    token = tokens[idx]
    code = code_text(token.content)
    index = env["first_code"] + len(env["codes"])
    env["codes"].append(code)
    return owner.code_piece(code, language_of(token.info), index, highlight=env["highlight"])


def _code_inline(_renderer: Any, tokens: Sequence[Token], idx: int, _options: Any, env: dict) -> str:
    content = html.escape(tokens[idx].content, quote=False)
    return f'<code style="background-color: {env["owner"].palette.inline_background};">{content}</code>'


def _image(renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: dict) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = renderer.renderInlineAsText(token.children or [], options, env) or src
    return f'<a href="{html.escape(src)}">[image: {html.escape(alt, quote=False)}]</a>'


def _table_open(_renderer: Any, _tokens: Sequence[Token], _idx: int, _options: Any, env: dict) -> str:
    border = env["owner"].palette.border
    return (f'<table border="1" cellspacing="0" cellpadding="4" '
            f'style="border-style: solid; border-color: {border}; margin-bottom: 8px;">\n')
