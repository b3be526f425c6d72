"""The Chat pane, driven through its widgets over a real core and a scripted OpenAI-compatible server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QLineEdit, QListWidget, QMessageBox

from app.panels.chat.markdown_render import PALETTES
from app.panels.chat.markdown_stream import LIVE_LIMIT
from app.panels.chat.message_widget import MessageWidget
from app.panels.chat.panel import ChatPanel
from nexus_core.providers.config import ProviderConfig
from nexus_core.routing.table import Assignment, Price, RoutingTable
from tests.support.llm_servers import ScriptedOpenAIServer, cut, error, text
from tests.support.memory_keyring import MemoryKeyring

WAIT_MS = 20_000  # returns as soon as the condition holds; the margin is for a loaded machine


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(models=["m1", "m2"]) as srv:
        yield srv


@pytest.fixture
def panel(make_window, server: ScriptedOpenAIServer) -> ChatPanel:
    window = make_window(keyring_backend=MemoryKeyring())
    core = window.ctx.core
    core.providers.save(ProviderConfig(name="loc", kind="openai", preset="custom", base_url=server.base_url,
                                       models=["m1", "m2"]))
    core.routing.save(RoutingTable(tiers={t: Assignment(model="loc/m1") for t in ("standard", "heavy", "ultra")},
                                   max_retries=0, cooldown_s=0))
    chat = window.show_panel("chat")
    assert isinstance(chat, ChatPanel)
    return chat


def type_and_send(qtbot, panel: ChatPanel, message: str) -> None:
    qtbot.keyClicks(panel.composer, message)
    qtbot.keyClick(panel.composer, Qt.Key.Key_Return)


def answers(panel: ChatPanel) -> list[MessageWidget]:
    return [w for w in panel.message_widgets() if w.role == "assistant"]


def wait_answered(qtbot, panel: ChatPanel, count: int = 1) -> MessageWidget:
    """Wait until the ``count``-th answer has ended and is fully drawn; returns it."""
    def done() -> bool:
        found = answers(panel)
        return (len(found) >= count and not panel.is_answering() and found[count - 1].status != "streaming"
                and found[count - 1].answer_body is not None and found[count - 1].answer_body.up_to_date)
    qtbot.waitUntil(done, timeout=WAIT_MS)
    return answers(panel)[count - 1]


def stored(panel: ChatPanel, conversation_id: str | None = None) -> list[tuple[str, str, str]]:
    cid = conversation_id or panel.current_conversation_id
    assert cid is not None
    return [(m.role, m.content, m.status) for m in panel.conversations.messages(cid)]


def inline_editor(qtbot, view: QListWidget) -> QLineEdit:
    """The line edit of the item being renamed in place (not one still closing from an earlier edit)."""
    def open_editors() -> list[QLineEdit]:
        return [e for e in view.viewport().findChildren(QLineEdit) if e.isVisible()]
    qtbot.waitUntil(lambda: len(open_editors()) == 1, timeout=WAIT_MS)
    return open_editors()[0]


def user_texts(request_body: dict) -> list[str]:
    return [m["content"] for m in request_body["messages"] if m["role"] == "user"]


def test_enter_streams_a_markdown_answer_with_copyable_code_and_a_footer(panel, server, qtbot, monkeypatch) -> None:
    reply = "Here is [the doc](https://example.com/doc):\n\n```python\nprint('hi')\nx = 1\n```\n\nAnd **done**."
    server.script(text(["Here is [the doc](https://exa", "mple.com/doc):\n\n```py", "thon\nprint('hi')\n",
                        "x = 1\n```\n\nAnd **done**."]))
    type_and_send(qtbot, panel, "show me code")
    answer = wait_answered(qtbot, panel)
    assert panel.composer.toPlainText() == ""
    assert user_texts(server.requests[0].body) == ["show me code"]
    user = panel.message_widgets()[0]
    assert user.role == "user" and user.plain_text() == "show me code"
    assert answer.plain_text() == reply
    assert answer.code_blocks() == ["print('hi')\nx = 1"]
    shown = answer.rendered_text()
    assert "```" not in shown and "**" not in shown and "](" not in shown
    assert "print('hi')" in shown and "the doc" in shown and "done" in shown
    assert answer.status_text() == "" and answer.error_text() == ""

    html = "".join(label.document().toHtml() for label in answer.answer_body.labels())
    assert 'href="nexus-copy:0"' in html and 'href="https://example.com/doc"' in html
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toString()) or True)
    label = answer.answer_body.labels()[0]
    label.anchorClicked.emit(QUrl("nexus-copy:0"))  # the code block's Copy link
    assert QGuiApplication.clipboard().text() == "print('hi')\nx = 1"
    label.anchorClicked.emit(QUrl("https://example.com/doc"))
    label.anchorClicked.emit(QUrl("file:///etc/passwd"))  # only web and mail links leave the app
    assert opened == ["https://example.com/doc"]
    answer.copy_button.click()
    assert QGuiApplication.clipboard().text() == reply

    footer = answer.footer_text()
    assert "loc/m1" in footer and "standard tier" in footer and "Chat" in footer and "7 → 5 tokens" in footer
    assert answer.regenerate_button.isVisible() and panel.send_button.text() == "Send"
    assert panel.conversation_list.ids() == [panel.current_conversation_id]
    assert panel.conversation_list.titles() == ["show me code"]
    assert stored(panel) == [("user", "show me code", "complete"), ("assistant", reply, "complete")]


def test_shift_enter_is_a_new_line_and_empty_input_sends_nothing(panel, server, qtbot) -> None:
    qtbot.keyClicks(panel.composer, "   ")
    qtbot.keyClick(panel.composer, Qt.Key.Key_Return)
    panel.send_button.click()
    assert server.requests == [] and panel.current_conversation_id is None
    assert panel.conversations.list() == []
    panel.composer.clear()
    qtbot.keyClicks(panel.composer, "line one")
    qtbot.keyClick(panel.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(panel.composer, "line two")
    assert panel.composer.toPlainText() == "line one\nline two" and server.requests == []
    panel.send_button.click()
    wait_answered(qtbot, panel)
    assert user_texts(server.requests[0].body) == ["line one\nline two"]


def test_a_theme_change_redraws_the_conversation_in_the_new_colours(panel, server, qtbot) -> None:
    server.script(text(["```python\nx = 1\n```"]))
    type_and_send(qtbot, panel, "code please")
    answer = wait_answered(qtbot, panel)
    light, dark = PALETTES["light"].background, PALETTES["dark"].background
    assert light in answer.answer_body.labels()[0].toHtml()
    panel.ctx.set_theme("dark", save=False)
    redrawn = wait_answered(qtbot, panel)
    html = "".join(label.toHtml() for label in redrawn.answer_body.labels())
    assert dark in html and light not in html
    assert redrawn.code_blocks() == ["x = 1"] and [w.plain_text() for w in panel.message_widgets()] == [
        "code please", "```python\nx = 1\n```"]


def test_a_refused_command_is_explained_in_the_pane_and_keeps_the_draft(panel, server, qtbot) -> None:
    type_and_send(qtbot, panel, "hello")
    wait_answered(qtbot, panel)
    cid = panel.current_conversation_id
    panel.ctx.core.store.execute("DELETE FROM conversations WHERE id = ?", (cid,))  # e.g. by `nexus` elsewhere
    type_and_send(qtbot, panel, "are you there?")
    assert "There is no conversation with id" in panel.notice_bar.text()
    assert panel.composer.toPlainText() == "are you there?" and len(server.requests) == 1
    assert panel.window().errors.dialogs == [] and panel.commands.dialogs == []


def test_long_answers_render_incrementally_and_copy_whole_code_blocks(panel, server, qtbot) -> None:
    code = "\n".join(f"value_{i} = compute({i}, '{'x' * (i % 17)}')" for i in range(120))
    prose = " ".join(f"Sentence {i} explains *one* step of the plan." for i in range(60))
    reply = f"{prose}\n\n```python\n{code}\n```\n\n" + "\n".join(f"- point {i}" for i in range(80)) + "\n\nThe end."
    chunks = [reply[i:i + 25] for i in range(0, len(reply), 25)]
    server.script(text(chunks, delay=0.002))
    type_and_send(qtbot, panel, "a long one")
    live_sizes: set[int] = set()

    def finished() -> bool:
        found = answers(panel)
        live = found[0].answer_body.live_label if found else None
        if live is not None and found[0].is_live:
            live_sizes.add(len(live.toPlainText()))
        return bool(found) and not panel.is_answering() and found[0].answer_body.up_to_date

    qtbot.waitUntil(finished, timeout=WAIT_MS)
    answer = answers(panel)[0]
    assert len(live_sizes) >= 2 and max(live_sizes) < 2 * LIVE_LIMIT < len(reply) // 2  # only the tail redraws
    assert answer.plain_text() == reply
    assert answer.code_blocks() == [code]
    assert len(answer.answer_body.labels()) >= 3 and answer.answer_body.live_label is None
    assert 2 <= answer.answer_body.renders < len(chunks) // 4  # coalesced: never a render per token
    shown = answer.rendered_text()
    for piece in ("Sentence 0 explains", "Sentence 59 explains", "value_0 = compute", "value_119 = compute",
                  "point 0", "point 79", "The end."):
        assert piece in shown
    assert "```" not in shown and "*one*" not in shown
    answer.copy_code(0)
    assert QGuiApplication.clipboard().text() == code


def test_the_view_follows_the_answer_only_from_the_bottom(panel, server, qtbot) -> None:
    reply = "\n\n".join(f"Paragraph {i}: " + "some words " * 12 for i in range(70))
    server.script(text([reply[i:i + 40] for i in range(0, len(reply), 40)], delay=0.01))
    type_and_send(qtbot, panel, "write a lot")
    bar = panel.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 300, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=WAIT_MS)  # following the end
    bar.setValue(0)  # the user scrolls up to read: the view must stay there while the answer grows
    grown = bar.maximum() + 200
    qtbot.waitUntil(lambda: bar.maximum() > grown, timeout=WAIT_MS)
    assert bar.value() == 0
    bar.setValue(bar.maximum())  # back at the end: following again
    grown = bar.maximum() + 200
    qtbot.waitUntil(lambda: bar.maximum() > grown or not panel.is_answering(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=WAIT_MS)
    assert wait_answered(qtbot, panel).plain_text() == reply


def test_retries_and_cost_show_under_the_answer(panel, server, qtbot) -> None:
    core = panel.ctx.core
    table = core.routing.table
    table.max_retries = 1
    table.prices = {"loc/m1": Price(input_per_mtok=1000, output_per_mtok=2000)}
    core.routing.save(table)
    server.script(error(500, "busy"), text(["fine now"]))
    type_and_send(qtbot, panel, "try again if needed")
    answer = wait_answered(qtbot, panel)
    assert answer.plain_text() == "fine now" and answer.error_text() == "" and answer.status_text() == ""
    assert "retrying" in answer.notices_text() and "attempt 2 of 2" in answer.notices_text()
    assert "$0.0170" in answer.footer_text()  # 7 × $1000/M + 5 × $2000/M
    assert len(server.requests) == 2


def test_stop_keeps_the_partial_answer_marked_incomplete(panel, server, qtbot) -> None:
    server.script(text([f"word{i} " for i in range(100)], delay=0.05))
    type_and_send(qtbot, panel, "talk slowly")
    qtbot.waitUntil(lambda: bool(answers(panel)) and answers(panel)[0].plain_text().count("word") >= 3,
                    timeout=WAIT_MS)
    assert panel.send_button.text() == "Stop" and panel.is_answering()
    assert "Answering with loc/m1" in answers(panel)[0].footer_text()
    panel.send_button.click()
    answer = wait_answered(qtbot, panel)
    assert answer.status_text().startswith("Incomplete — Stopped")
    assert panel.send_button.text() == "Send"
    kept = answer.plain_text()
    assert 3 <= kept.count("word") < 100
    assert stored(panel) == [("user", "talk slowly", "complete"), ("assistant", kept, "partial")]
    assert kept.strip() in answer.rendered_text()


def test_provider_failures_show_in_the_pane_and_keep_the_question(panel, server, qtbot) -> None:
    server.script(error(401, "bad key"), error(500, "overloaded"), cut(["Partial ", "answer"], after=1))
    type_and_send(qtbot, panel, "first try")
    failed = wait_answered(qtbot, panel, 1)
    assert "refused the API key (HTTP 401)" in failed.error_text() and "What to do:" in failed.error_text()
    assert failed.plain_text() == "" and failed.status_text() == ""
    type_and_send(qtbot, panel, "second try")
    failed = wait_answered(qtbot, panel, 2)
    assert "500" in failed.error_text() and "overloaded" in failed.error_text()
    type_and_send(qtbot, panel, "third try")
    partial = wait_answered(qtbot, panel, 3)
    assert partial.plain_text() == "Partial " and partial.status_text().startswith("Incomplete — ")
    assert partial.error_text() == ""
    roles = [(role, content, status) for role, content, status in stored(panel)]
    assert [r for r in roles if r[0] == "user"] == [("user", t, "complete") for t in ("first try", "second try",
                                                                                       "third try")]
    assert [r[2] for r in roles if r[0] == "assistant"] == ["error", "error", "partial"]
    assert [w.plain_text() for w in panel.message_widgets() if w.role == "user"] == ["first try", "second try",
                                                                                      "third try"]
    assert panel.window().errors.dialogs == []  # shown in the pane, never as a crash dialog


def test_regenerate_replaces_the_last_answer(panel, server, qtbot) -> None:
    server.script(text(["first answer"]), text(["second answer"]))
    type_and_send(qtbot, panel, "question")
    first = wait_answered(qtbot, panel)
    assert first.plain_text() == "first answer"
    first.regenerate_button.click()
    qtbot.waitUntil(lambda: len(server.requests) == 2, timeout=WAIT_MS)
    second = wait_answered(qtbot, panel)
    assert second.plain_text() == "second answer" and second is not first
    assert [w.plain_text() for w in panel.message_widgets()] == ["question", "second answer"]
    assert user_texts(server.requests[1].body) == ["question"]
    assert "first answer" not in str(server.requests[1].body["messages"])
    assert stored(panel) == [("user", "question", "complete"), ("assistant", "second answer", "complete")]


def test_edit_and_resend_truncates_and_sends_the_edited_text(panel, server, qtbot) -> None:
    server.script(text(["one"]), text(["two"]), text(["three"]))
    type_and_send(qtbot, panel, "original")
    wait_answered(qtbot, panel, 1)
    type_and_send(qtbot, panel, "follow-up")
    wait_answered(qtbot, panel, 2)
    first = panel.message_widgets()[0]
    assert first.role == "user" and first.edit_button.isEnabled()
    first.edit_button.click()
    assert first.user_body.editor.toPlainText() == "original"
    first.user_body.editor.setPlainText("edited question")
    first.user_body.resend_button.click()
    qtbot.waitUntil(lambda: len(server.requests) == 3, timeout=WAIT_MS)
    answer = wait_answered(qtbot, panel, 1)
    assert user_texts(server.requests[2].body) == ["edited question"]
    assert answer.plain_text() == "three"
    assert [w.plain_text() for w in panel.message_widgets()] == ["edited question", "three"]
    assert stored(panel) == [("user", "edited question", "complete"), ("assistant", "three", "complete")]


def test_search_filters_by_title_and_message_text(panel, qtbot) -> None:
    store = panel.conversations
    fruit = store.create("Fruit")
    store.append(fruit.id, "user", "I like banana bread")
    cars = store.create("Cars")
    store.append(cars.id, "user", "fast engines")
    bananas = store.create("Banana facts")
    qtbot.waitUntil(lambda: len(panel.conversation_list.ids()) == 3, timeout=WAIT_MS)
    assert panel.conversation_list.titles()[0] == "Banana facts"  # newest first
    qtbot.keyClicks(panel.search_box, "banana")
    qtbot.waitUntil(lambda: len(panel.conversation_list.ids()) == 2, timeout=WAIT_MS)
    assert set(panel.conversation_list.ids()) == {fruit.id, bananas.id}
    panel.search_box.clear()
    qtbot.waitUntil(lambda: len(panel.conversation_list.ids()) == 3, timeout=WAIT_MS)
    panel.conversation_list.list.setCurrentItem(panel.conversation_list.item_for(fruit.id))
    assert panel.current_conversation_id == fruit.id and panel.title_label.text() == "Fruit"
    assert [w.plain_text() for w in panel.message_widgets()] == ["I like banana bread"]


def test_a_long_conversation_opens_newest_first_and_stays_at_the_bottom(panel, qtbot) -> None:
    store = panel.conversations
    conv = store.create("Long one")
    for i in range(30):
        store.append(conv.id, "user", f"question {i}")
        store.append(conv.id, "assistant", f"Answer **{i}**\n\n" + "More words here. " * 30, meta={"tier": "heavy"})
    qtbot.waitUntil(lambda: conv.id in panel.conversation_list.ids(), timeout=WAIT_MS)
    panel.conversation_list.list.setCurrentItem(panel.conversation_list.item_for(conv.id))
    first = [w.plain_text().split("\n")[0] for w in panel.message_widgets()]
    assert len(first) < 60 and first[-1] == "Answer **29**" and panel.view.loading  # the newest, at once
    qtbot.waitUntil(lambda: not panel.view.loading and not panel.view.pump.busy, timeout=WAIT_MS)
    widgets = panel.message_widgets()
    assert [w.plain_text() for w in widgets[::2]] == [f"question {i}" for i in range(30)]
    assert all(w.rendered_text().startswith(f"Answer {i}") for i, w in enumerate(widgets[1::2]))
    assert [w.regenerate_button.isVisibleTo(panel) for w in widgets[1::2]] == [False] * 29 + [True]
    qtbot.waitUntil(lambda: panel.view.at_bottom, timeout=WAIT_MS)
    assert panel.view.verticalScrollBar().maximum() > 0


def test_rename_and_delete_from_the_list(panel, qtbot, monkeypatch) -> None:
    store = panel.conversations
    keep = store.create("Keep me")
    doomed = store.create("Doomed")
    store.append(doomed.id, "user", "bye")
    qtbot.waitUntil(lambda: len(panel.conversation_list.ids()) == 2, timeout=WAIT_MS)
    conversations = panel.conversation_list
    conversations.list.setCurrentItem(conversations.item_for(keep.id))
    conversations.rename_button.click()
    editor = inline_editor(qtbot, conversations.list)
    editor.selectAll()
    qtbot.keyClicks(editor, "Renamed chat")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: store.get(keep.id).title == "Renamed chat", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.title_label.text() == "Renamed chat", timeout=WAIT_MS)
    conversations.rename_button.click()  # an empty title is refused, with the reason shown in the pane
    editor = inline_editor(qtbot, conversations.list)
    editor.setText("   ")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "cannot be empty" in panel.notice_bar.text(), timeout=WAIT_MS)
    assert store.get(keep.id).title == "Renamed chat"
    qtbot.waitUntil(lambda: "Renamed chat" in conversations.titles(), timeout=WAIT_MS)

    conversations.list.setCurrentItem(conversations.item_for(doomed.id))
    assert panel.current_conversation_id == doomed.id
    monkeypatch.setattr(QMessageBox, "question", lambda *_a, **_k: QMessageBox.StandardButton.No)
    conversations.delete_button.click()
    assert doomed.id in [c.id for c in store.list()] and set(conversations.ids()) == {doomed.id, keep.id}
    monkeypatch.setattr(QMessageBox, "question", lambda *_a, **_k: QMessageBox.StandardButton.Yes)
    conversations.delete_button.click()
    qtbot.waitUntil(lambda: conversations.ids() == [keep.id], timeout=WAIT_MS)
    assert [c.id for c in store.list()] == [keep.id]
    assert panel.current_conversation_id is None and panel.message_widgets() == []


def test_export_writes_the_conversation_as_markdown(panel, server, qtbot, monkeypatch, tmp_path: Path) -> None:
    server.script(text(["The **answer**."]))
    type_and_send(qtbot, panel, "export me")
    wait_answered(qtbot, panel)
    target = tmp_path / "out" / "chat.md"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_a, **_k: (str(target), "Markdown (*.md)"))
    panel.conversation_list.export_button.click()
    qtbot.waitUntil(target.exists, timeout=WAIT_MS)
    written = target.read_text(encoding="utf-8")
    assert written.startswith("# export me\n")
    assert "## You\n\nexport me" in written and "## Assistant (loc/m1, standard)\n\nThe **answer**." in written
    qtbot.waitUntil(lambda: f"Exported to {target}" in panel.notice_bar.text(), timeout=WAIT_MS)


def test_model_choice_persists_and_routes_the_next_request(panel, server, qtbot) -> None:
    combo = panel.model_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["Auto (router)", "loc/m1", "loc/m2"]
    combo.setCurrentIndex(combo.findData("loc/m2"))  # before the first message: kept for the new chat
    type_and_send(qtbot, panel, "use m2")
    answer = wait_answered(qtbot, panel, 1)
    cid = panel.current_conversation_id
    assert server.requests[0].body["model"] == "m2" and "loc/m2" in answer.footer_text()
    assert panel.conversations.get(cid).model_override == "loc/m2"
    combo.setCurrentIndex(combo.findData(None))
    assert panel.conversations.get(cid).model_override is None
    type_and_send(qtbot, panel, "back to auto")
    wait_answered(qtbot, panel, 2)
    assert server.requests[1].body["model"] == "m1"
    combo.setCurrentIndex(combo.findData("loc/m2"))
    panel.new_chat()
    assert combo.currentText() == "Auto (router)"
    panel.conversation_list.list.setCurrentItem(panel.conversation_list.item_for(cid))
    assert combo.currentData() == "loc/m2"
    panel.ctx.core.providers.remember_models("loc", ["m1", "m3"])
    qtbot.waitUntil(lambda: combo.findData("loc/m3") > 0, timeout=WAIT_MS)
    assert combo.currentData() == "loc/m2"  # still shown, though no provider offers it any more
    assert "not offered" in combo.currentText()


def test_switching_conversations_while_one_answers(panel, server, qtbot) -> None:
    other = panel.conversations.create("Other chat")
    panel.conversations.append(other.id, "user", "an older question")
    chunks = [f"part{i} " for i in range(60)]
    server.script(text(chunks, delay=0.03))
    type_and_send(qtbot, panel, "stream please")
    streaming_id = panel.current_conversation_id
    qtbot.waitUntil(lambda: bool(answers(panel)) and "part2" in answers(panel)[0].plain_text(), timeout=WAIT_MS)
    conversations = panel.conversation_list
    conversations.list.setCurrentItem(conversations.item_for(other.id))
    assert panel.current_conversation_id == other.id
    assert [w.plain_text() for w in panel.message_widgets()] == ["an older question"]
    assert panel.send_button.text() == "Send" and not panel.is_answering()
    qtbot.waitUntil(lambda: "part20" in "".join(m.content for m in panel.conversations.messages(streaming_id))
                    or panel.chat.active_turn(streaming_id) is None, timeout=WAIT_MS)
    conversations.list.setCurrentItem(conversations.item_for(streaming_id))
    live = answers(panel)[0]
    assert panel.message_widgets()[0].plain_text() == "stream please"
    assert live.plain_text().startswith("part0 part1 part2 ")
    answer = wait_answered(qtbot, panel)
    assert answer.plain_text() == "".join(chunks)
    assert stored(panel, streaming_id)[-1] == ("assistant", "".join(chunks), "complete")
    assert stored(panel, other.id) == [("user", "an older question", "complete")]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_an_answer_is_read_aloud_sentence_by_sentence(panel, server, qtbot) -> None:  # type: ignore[no-untyped-def]
    from app.speech_playback import SpeechPlayback
    from nexus_core.media.playback import AudioPlayer

    server.script(text(["Sure. Run this:\n\n```sh\nls -la\n```\n\nIt lists **every** file."]))
    type_and_send(qtbot, panel, "how do I list files?")
    answer = wait_answered(qtbot, panel)
    assert answer.speak_button.isVisible()
    panel._speech = SpeechPlayback(panel.ctx, AudioPlayer(output=None), parent=panel)
    panel._speech.player.output = None  # a machine without sound: say so, make nothing
    answer.speak_button.click()
    assert "No audio output" in panel.notice_bar.text() and panel.ctx.core.media.items() == []
    panel._speech.player.output = ("null", "-")  # ffmpeg's null output stands in for the missing sound card
    answer.speak_button.click()
    media = panel.ctx.core.media
    qtbot.waitUntil(lambda: len(media.items()) == 1 and panel._speech.job_id is None, timeout=30_000)
    item = media.items()[0]  # (the stream ends when the GUI hears that the job ended, after its gallery entry)
    assert item.params["text"] == "Sure. Run this:\n(code block).\nIt lists every file."  # code and markup not read
    assert len(panel._speech.player.fed) == 3 and panel._speech.player.wait(10) == 0
