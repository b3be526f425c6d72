"""The tool cards under one assistant message, kept in the order the model asked for the calls.

Cards are updated in place (by call id) as results arrive, so an open card does not flicker or lose
its scroll position while its siblings finish.
"""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.panels.chat.tool_card import ToolCard
from app.panels.chat.tool_run import ToolRun


class ToolCardList(QWidget):
    def __init__(self, choices: dict[str, bool], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._choices = choices
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 2, 0, 2)
        self._layout.setSpacing(4)
        self._cards: list[ToolCard] = []
        self.hide()

    def cards(self) -> list[ToolCard]:
        return list(self._cards)

    def show_runs(self, runs: list[ToolRun]) -> None:
        wanted = {run.call_id for run in runs}
        for card in [c for c in self._cards if c.call_id not in wanted]:
            self._cards.remove(card)
            self._layout.removeWidget(card)
            card.deleteLater()
        by_id = {card.call_id: card for card in self._cards}
        for index, run in enumerate(runs):
            card = by_id.get(run.call_id)
            if card is None:
                card = ToolCard(run, self._choices)
                self._layout.insertWidget(index, card)
                self._cards.insert(index, card)
            elif card.run != run:
                card.update_run(run)
        self.setVisible(bool(runs))
