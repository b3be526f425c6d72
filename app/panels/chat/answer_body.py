"""The rendered Markdown of one answer: frozen pieces that never change, plus the live tail while it streams."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.panels.chat.markdown_render import COPY_SCHEME, MarkdownRenderer
from app.panels.chat.markdown_stream import MarkdownStream, StreamUpdate, normalise_newlines
from app.panels.chat.rich_text import RichText, open_external

STEP_CHARS = 4000  # a long stored answer is rendered in steps of this size, one per event-loop turn
MERGE_LIMIT = 3000  # HTML characters per frozen view: pieces share one until it would grow costly to set


class AnswerBody(QWidget):
    """Owns the Markdown stream of one message; ``render_step`` brings the display up to ``source()``."""

    def __init__(self, renderer: MarkdownRenderer, source: Callable[[], tuple[str, bool]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._renderer = renderer
        self._source = source  # → (text so far, whether it is final)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        self._frozen_labels: list[RichText] = []
        self._live_label: RichText | None = None
        self._reset()

    def _reset(self) -> None:
        for label in self.labels():
            self._layout.removeWidget(label)
            label.deleteLater()
        self._stream = MarkdownStream(self._renderer)
        self._frozen_labels = []
        self._frozen_html = ""
        self._live_label = None
        self._codes: list[str] = []
        self._live_codes: tuple[str, ...] = ()
        self._fed = ""
        self._fed_final = False
        self.renders = 0  # how many times the text was re-rendered (tokens are many more: they are coalesced)

    # ---- reading -----------------------------------------------------------------------------------

    def code_blocks(self) -> list[str]:
        return [*self._codes, *self._live_codes]

    def copy_code(self, index: int) -> None:
        QGuiApplication.clipboard().setText(self.code_blocks()[index])

    @property
    def live_label(self) -> RichText | None:
        """The view of the still-growing tail (None once the answer is final)."""
        return self._live_label

    def labels(self) -> list[RichText]:
        return [*self._frozen_labels, *([self._live_label] if self._live_label is not None else [])]

    def rendered_text(self) -> str:
        return "\n".join(label.toPlainText() for label in self.labels())

    @property
    def up_to_date(self) -> bool:
        text, final = self._source()
        return normalise_newlines(text) == self._fed and final == self._fed_final

    # ---- rendering ---------------------------------------------------------------------------------

    def render_step(self) -> bool:
        """Render what changed; True when more work is left (a long text is done in several steps)."""
        raw, final = self._source()
        text = normalise_newlines(raw)
        if text == self._fed and final == self._fed_final:
            return False
        if not text.startswith(self._fed[:self._stream.offset]):  # replaced, not extended: start over
            self._reset()
        self.renders += 1
        start = len(self._fed) if text.startswith(self._fed) else self._stream.offset
        if len(text) - start > STEP_CHARS:
            end = text.find("\n", start + STEP_CHARS)
            if end < 0 or end - start > 2 * STEP_CHARS:
                end = start + STEP_CHARS
            self._apply(self._stream.feed(text[:end]))
            self._fed, self._fed_final = text[:end], False
            return True
        self._apply(self._stream.feed(text, final=final))
        self._fed, self._fed_final = text, final
        return False

    def _apply(self, update: StreamUpdate) -> None:
        for part in update.frozen:
            self._codes.extend(part.codes)
            if part.html.strip():
                self._append_frozen(part.html)
        if update.live is None or not update.live.html.strip():
            if self._live_label is not None:
                self._layout.removeWidget(self._live_label)
                self._live_label.deleteLater()
                self._live_label = None
            self._live_codes = update.live.codes if update.live is not None else ()
            return
        self._live_codes = update.live.codes
        if self._live_label is None:
            self._live_label = RichText(self._on_link, self)
            self._layout.addWidget(self._live_label)
        self._live_label.set_html(update.live.html)

    def _append_frozen(self, html: str) -> None:
        if self._frozen_labels and len(self._frozen_html) + len(html) <= MERGE_LIMIT:
            self._frozen_html += html
            self._frozen_labels[-1].set_html(self._frozen_html)
            return
        label = RichText(self._on_link, self)
        self._layout.insertWidget(len(self._frozen_labels), label)
        self._frozen_labels.append(label)
        self._frozen_html = html
        label.set_html(html)

    def _on_link(self, href: str) -> None:
        if href.startswith(COPY_SCHEME):
            index = int(href.removeprefix(COPY_SCHEME))
            if 0 <= index < len(self.code_blocks()):
                self.copy_code(index)
        else:
            open_external(href)
