"""Incremental Markdown for a growing answer, so each render costs the size of the tail, not of the answer.

Markdown's block structure is decided line by line: once a new top-level block has started, the blocks
before it can no longer change. Those are rendered once ("frozen", with syntax highlighting) and never
again; only the last, still-growing block is re-rendered ("live", without highlighting). A live block
that grows past ``LIVE_LIMIT`` is cut at a list item or line (or, for one huge line, a space) so the
live part stays small; the cost is a paragraph break at that cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it.token import Token

from app.panels.chat.markdown_render import MarkdownRenderer, Rendered

LIVE_LIMIT = 1500  # characters of source in the live block before it is cut
_BLOCK_START = re.compile(r" {0,3}(?:[#>*+=|`~_<-]|\d{1,9}[.)])|\s*$| {4}|\t")


@dataclass(frozen=True)
class StreamUpdate:
    frozen: tuple[Rendered, ...]  # newly frozen parts, in order; append them after the earlier ones
    live: Rendered | None  # the growing tail, replacing the previous live part (None once final)


def normalise_newlines(text: str) -> str:
    """What markdown-it does to line ends, done first so that character offsets match its line numbers."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class MarkdownStream:
    """Feed it the whole text so far (growing); it renders only what changed since the last feed."""

    def __init__(self, renderer: MarkdownRenderer) -> None:
        self.renderer = renderer
        self.offset = 0  # characters of the source already frozen
        self.frozen_codes = 0  # code blocks in the frozen part (the live part numbers its Copy links after them)

    def feed(self, text: str, *, final: bool = False) -> StreamUpdate:
        tail = text[self.offset:]
        if final:
            return StreamUpdate((self._freeze(tail),) if tail.strip() else (), None)
        tokens = self.renderer.parse(tail)
        cut = freeze_point(tail, tokens)
        frozen: tuple[Rendered, ...] = ()
        if cut > 0:
            frozen = (self._freeze(tail[:cut]),)
            tail = tail[cut:]
            tokens = self.renderer.parse(tail)
        live = self.renderer.render(tokens, first_code=self.frozen_codes, highlight=False)
        return StreamUpdate(frozen, live)

    def _freeze(self, source: str) -> Rendered:
        rendered = self.renderer.render_source(source, first_code=self.frozen_codes, highlight=True)
        self.offset += len(source)
        self.frozen_codes += len(rendered.codes)
        return rendered


def line_starts(text: str) -> list[int]:
    starts = [0]
    position = text.find("\n")
    while position >= 0:
        starts.append(position + 1)
        position = text.find("\n", position + 1)
    return starts


def freeze_point(tail: str, tokens: list[Token]) -> int:
    """How many leading characters of ``tail`` can be frozen now (0: none)."""
    blocks = [(i, t) for i, t in enumerate(tokens) if t.level == 0 and t.nesting >= 0 and t.map]
    if not blocks:
        return 0
    starts = line_starts(tail)
    first_index, last = blocks[-1]
    assert last.map is not None
    cut = starts[last.map[0]] if last.map[0] < len(starts) else len(tail)
    if len(tail) - cut <= LIVE_LIMIT:
        return cut
    return max(cut, _cut_inside(tail, tokens[first_index:], starts))


def _cut_inside(tail: str, block: list[Token], starts: list[int]) -> int:
    """A place inside the oversized last block where it can be split without changing what it shows."""
    head = block[0]
    assert head.map is not None
    first_line, end_line = head.map
    if head.type in ("bullet_list_open", "ordered_list_open"):
        items = [t.map[0] for t in block if t.type == "list_item_open" and t.level == 1 and t.map]
        return starts[items[-1]] if len(items) > 1 else 0
    if head.type != "paragraph_open":
        return 0  # code, tables, quotes: keep whole (a code block's Copy must copy all of it)
    for line in range(min(end_line, len(starts)) - 1, first_line, -1):
        if not _BLOCK_START.match(tail, starts[line]):
            return starts[line]
    begin = starts[first_line]
    space = tail.rfind(" ", begin, len(tail) - 1)
    if space <= begin or tail.count("`", begin, space) % 2 or _BLOCK_START.match(tail, space + 1):
        return 0
    return space + 1
