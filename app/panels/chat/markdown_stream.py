"""Incremental Markdown for a growing answer, so each render costs the size of the tail, not of the answer.

Markdown's block structure is decided line by line: once a new top-level block has started, the blocks
before it can no longer change. Those are rendered once ("frozen", with syntax highlighting) and never
again; only the last, still-growing block is re-rendered ("live", without highlighting). A live block
that grows past ``LIVE_LIMIT`` is cut: a list at an item, a paragraph at a line (or, for one huge line,
a space; the cost is a paragraph break there), and an open code fence at a line, its pieces stacking
without a seam while its Copy link still copies the whole block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it.token import Token

from app.panels.chat.markdown_render import MarkdownRenderer, Rendered, code_text, language_of

LIVE_LIMIT = 1000  # characters of source in the live block before it is cut (markdown-it parses ~5 µs a character)
CODE_PIECE_LIMIT = 800  # a long code block is frozen in pieces of about this size (highlighted code sets slowly)
_BLOCK_START = re.compile(r" {0,3}(?:[#>*+=|`~_<-]|\d{1,9}[.)])|\s*$| {4}|\t")
_FENCE_OPEN = re.compile(r"(`{3,}|~{3,})([^\n]*)\n")


@dataclass(frozen=True)
class StreamUpdate:
    frozen: tuple[Rendered, ...]  # newly frozen parts, in order; append them after the earlier ones
    live: Rendered | None  # the growing tail, replacing the previous live part (None once final)


@dataclass
class _OpenFence:
    """A long code block still being written, whose first lines are already frozen."""

    marker: str  # the opening ``` or ~~~ run: the closing line needs as many of the same character
    language: str
    index: int  # its Copy link number
    code: str  # the lines frozen so far

    def closing(self) -> re.Pattern[str]:
        return re.compile(rf"^ {{0,3}}{re.escape(self.marker[0])}{{{len(self.marker)},}}[ \t]*$", re.MULTILINE)


def normalise_newlines(text: str) -> str:
    """What markdown-it does to line ends, done first so that character offsets match its line numbers."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class MarkdownStream:
    """Feed it the whole text so far (growing); it renders only what changed since the last feed."""

    def __init__(self, renderer: MarkdownRenderer) -> None:
        self.renderer = renderer
        self.offset = 0  # characters of the source already frozen
        self.frozen_codes = 0  # complete code blocks in the frozen part (later Copy links are numbered after them)
        self._fence: _OpenFence | None = None

    def feed(self, text: str, *, final: bool = False) -> StreamUpdate:
        frozen: list[Rendered] = []
        tail = text[self.offset:]
        if self._fence is not None:
            live = self._continue_fence(tail, final, frozen)
            if self._fence is not None or live is not None:
                return StreamUpdate(tuple(frozen), live)
            tail = text[self.offset:]
        if final:
            if tail.strip():
                frozen.append(self._freeze(tail))
            return StreamUpdate(tuple(frozen), None)
        tokens = self.renderer.parse(tail)
        cut, split = freeze_point(tail, tokens)
        if split is not None and split > 0:  # at a top-level block: render both sides from this one parse
            frozen.append(self._freeze_tokens(tokens[:split], cut))
            tokens = tokens[split:]
            tail = tail[cut:]
        elif cut > 0:  # inside the last block: both sides are parsed on their own
            frozen.append(self._freeze(tail[:cut]))
            tail = tail[cut:]
            tokens = self.renderer.parse(tail)
        if len(tail) > CODE_PIECE_LIMIT and self._open_fence(tail, tokens, frozen):
            live = self._continue_fence(text[self.offset:], False, frozen)
            return StreamUpdate(tuple(frozen), live)
        return StreamUpdate(tuple(frozen), self.renderer.render(tokens, first_code=self.frozen_codes,
                                                                highlight=False))

    def _freeze(self, source: str) -> Rendered:
        return self._freeze_tokens(self.renderer.parse(source), len(source))

    def _freeze_tokens(self, tokens: list[Token], length: int) -> Rendered:
        rendered = self.renderer.render(tokens, first_code=self.frozen_codes, highlight=True)
        self.offset += length
        self.frozen_codes += len(rendered.codes)
        return rendered

    # ---- long code blocks ----------------------------------------------------------------------------

    def _open_fence(self, tail: str, tokens: list[Token], frozen: list[Rendered]) -> bool:
        """Start freezing the live block in pieces if it is a long top-level code block not yet closed."""
        head = tokens[0] if tokens else None
        opening = _FENCE_OPEN.match(tail)
        if head is None or head.type != "fence" or opening is None or len(tokens) != 1:
            return False
        fence = _OpenFence(opening.group(1), language_of(opening.group(2)), self.frozen_codes, "")
        body = tail[opening.end():]
        if fence.closing().search(body) is not None:
            return False  # closed: it is rendered whole when the next block starts
        lines_end = body.rfind("\n") + 1
        fence.code = body[:lines_end]
        frozen.append(Rendered(self.renderer.code_piece(fence.code, fence.language, fence.index, last=False), ()))
        self.offset += opening.end() + lines_end
        self._fence = fence
        return True

    def _continue_fence(self, tail: str, final: bool, frozen: list[Rendered]) -> Rendered | None:
        """Inside an open code block: freeze finished lines, close it at its fence; returns the live piece."""
        fence = self._fence
        assert fence is not None
        close = fence.closing().search(tail)
        if close is not None and (close.end() < len(tail) or final):
            rest = tail[:close.start()]
            code = code_text(fence.code + rest)
            frozen.append(Rendered(self.renderer.code_piece(rest, fence.language, fence.index, header=False), (code,)))
            self.offset += min(len(tail), close.end() + 1)
            self.frozen_codes += 1
            self._fence = None
            return None
        if final:  # never closed: Markdown runs such a block to the end of the text
            frozen.append(Rendered(self.renderer.code_piece(tail, fence.language, fence.index, header=False),
                                   (code_text(fence.code + tail),)))
            self.offset += len(tail)
            self.frozen_codes += 1
            self._fence = None
            return None
        lines_end = tail.rfind("\n") + 1
        if len(tail) > CODE_PIECE_LIMIT and lines_end:
            frozen.append(Rendered(self.renderer.code_piece(tail[:lines_end], fence.language, fence.index,
                                                            header=False, last=False), ()))
            fence.code += tail[:lines_end]
            self.offset += lines_end
            tail = tail[lines_end:]
        html = self.renderer.code_piece(tail, fence.language, fence.index, header=False, last=False, highlight=False)
        return Rendered(html, (code_text(fence.code + tail),))


def line_starts(text: str) -> list[int]:
    starts = [0]
    position = text.find("\n")
    while position >= 0:
        starts.append(position + 1)
        position = text.find("\n", position + 1)
    return starts


def freeze_point(tail: str, tokens: list[Token]) -> tuple[int, int | None]:
    """How many leading characters of ``tail`` can be frozen now (0: none), and, when that is where the
    last top-level block starts, the index of its first token (the two sides then render from ``tokens``)."""
    blocks = [(i, t) for i, t in enumerate(tokens) if t.level == 0 and t.nesting >= 0 and t.map]
    if not blocks:
        return 0, None
    starts = line_starts(tail)
    first_index, last = blocks[-1]
    assert last.map is not None
    cut = starts[last.map[0]] if last.map[0] < len(starts) else len(tail)
    if len(tail) - cut > LIVE_LIMIT:
        inside = _cut_inside(tail, tokens[first_index:], starts)
        if inside > cut:
            return inside, None
    return cut, first_index


def _cut_inside(tail: str, block: list[Token], starts: list[int]) -> int:
    """A place inside the oversized last block where it can be split without changing what it shows."""
    head = block[0]
    assert head.map is not None
    first_line, end_line = head.map
    if head.type in ("bullet_list_open", "ordered_list_open"):
        items = [t.map[0] for t in block if t.type == "list_item_open" and t.level == 1 and t.map]
        return starts[items[-1]] if len(items) > 1 else 0
    if head.type != "paragraph_open":
        return 0  # tables, quotes: kept whole; code blocks are cut by the stream itself
    for line in range(min(end_line, len(starts)) - 1, first_line, -1):
        if not _BLOCK_START.match(tail, starts[line]):
            return starts[line]
    begin = starts[first_line]
    space = tail.rfind(" ", begin, len(tail) - 1)
    if space <= begin or tail.count("`", begin, space) % 2 or _BLOCK_START.match(tail, space + 1):
        return 0
    return space + 1
