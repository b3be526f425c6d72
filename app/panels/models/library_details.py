"""The details of the selected model: what its files say, the support verdict, and its load state or error."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QTextBrowser, QWidget

from nexus_core.models.library import LibraryEntry
from nexus_core.models.loader import LoadedModel, LoadOutcome
from nexus_core.units import human_count, human_size


def _row(label: str, value: str) -> str:
    return f"<tr><td style='padding-right:12px'><b>{html.escape(label)}</b></td><td>{html.escape(value)}</td></tr>"


def details_html(entry: LibraryEntry, loaded: LoadedModel | None, failure: LoadOutcome | None) -> str:
    info, support = entry.info, entry.support
    rows = [("Folder", str(info.path)), ("Category", info.category), ("Architecture", info.architecture or "—"),
            ("Model type", info.model_type or "—"),
            ("Parameters", f"{human_count(info.parameters)} ({info.parameters:,})" if info.parameters else "—"),
            ("Size on disk", human_size(info.size_bytes)), ("Dtype", info.dtype or "—"),
            ("Weight files", str(len(info.shards))), ("Tokenizer", "yes" if info.has_tokenizer else "no"),
            ("Processor", "yes" if info.has_processor else "no"),
            ("Custom code", "yes (needs your consent to run)" if info.custom_code else "no")]
    if info.base_model:
        rows.append(("Base model", info.base_model))
    if info.components:
        rows.append(("Components", ", ".join(f"{k}: {v}" for k, v in info.components.items())))
    rows.append(("Loader", support.strategy or "—"))
    parts = [f"<h3>{html.escape(info.name)}</h3><table>{''.join(_row(k, v) for k, v in rows)}</table>"]
    verdict = "Supported" if support.supported else "Not supported"
    parts.append(f"<p><b>{verdict}:</b> {html.escape(support.reason)}</p>")
    if loaded is not None:
        parts.append(f"<p><b>Loaded</b> on {html.escape(loaded.device)} in {html.escape(loaded.dtype)}: "
                     f"{human_size(loaded.memory_bytes)} as {html.escape(loaded.strategy)} "
                     f"({html.escape(loaded.method)}, {loaded.seconds:.2f} s).</p>")
        parts += [f"<p>Note: {html.escape(n)}</p>" for n in loaded.notes]
    if failure is not None:
        where = f"<br>File: {html.escape(failure.path)}" if failure.path else ""
        hint = f"<br>What to do: {html.escape(failure.hint)}" if failure.hint else ""
        parts.append(f"<p style='color:#c0392b'><b>Loading failed:</b> {html.escape(failure.message)}{where}"
                     f"{hint}</p>")
    parts += [f"<p style='color:#c0392b'>Problem: {html.escape(p)}</p>" for p in info.problems]
    return "".join(parts)


class LibraryDetails(QTextBrowser):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(False)
        self.show_nothing()

    def show_nothing(self) -> None:
        self.setHtml("<p>Select a model to see its details.</p>")

    def show_entry(self, entry: LibraryEntry, loaded: LoadedModel | None, failure: LoadOutcome | None) -> None:
        self.setHtml(details_html(entry, loaded, failure))
