"""The first-run wizard driven through its widgets, over a real core, with a scripted loopback server standing in
for Ollama (and for a hosted OpenAI-compatible service)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication

from app.first_run.launch import first_run_due, run_first_run
from app.first_run.wizard import FirstRunWizard
from nexus_core.core import Core
from nexus_core.location import chosen_data_dir
from nexus_core.routing.classify import Tier
from tests.support.fake_nvml import FakeGpu, FakeNvml
from tests.support.llm_servers import ScriptedOpenAIServer, error, text
from tests.support.memory_keyring import MemoryKeyring
from tests.support.tiny_models import build_tiny_llama

NO_OTHER_SERVERS = {"lmstudio": 0, "llamacpp": 0, "vllm": 0}
ROOT = Path(__file__).resolve().parents[2]
LAUNCH_DRIVER = r"""
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from app.first_run.wizard import FirstRunWizard
from app.main import main
from app.window import MainWindow

def windows():
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]

def close_on_chat():
    if not windows() or windows()[0].current_panel_id() != "chat":
        QTimer.singleShot(100, close_on_chat)
        return
    print("chat", flush=True)
    windows()[0].confirm_close = False
    windows()[0].close()
    QApplication.quit()

def skip_wizard():
    dialog = QApplication.activeModalWidget()
    if not isinstance(dialog, FirstRunWizard):
        QTimer.singleShot(100, skip_wizard)
        return
    print("wizard" if not windows() else "wizard after the window", flush=True)
    dialog.skip_button.click()
    QTimer.singleShot(100, close_on_chat)

app = QApplication(sys.argv[:1])  # main() uses this one; the timers need it to exist first
QTimer.singleShot(100, skip_wizard)
sys.exit(main(["--data-dir", sys.argv[1]]))
"""


@pytest.fixture
def cores():
    opened: list[Core] = []
    yield opened
    for core in opened:
        core.close(job_timeout=5)


def _click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _wizard(qtbot, cores: list[Core], *, keyring=None, nvml=None, ports=None, data_dir: Path) -> FirstRunWizard:
    def open_core(folder: Path) -> Core:
        core = Core.open(folder, nvml=nvml or FakeNvml([]), keyring_backend=keyring or fail.Keyring())
        cores.append(core)
        return core

    wizard = FirstRunWizard(data_dir=data_dir, open_core=open_core, detect_ports=ports)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitExposed(wizard)
    return wizard


def test_first_run_from_folder_to_an_answer_from_ollama(qtbot, tmp_path, cores) -> None:
    models_dir = tmp_path / "my-models"
    build_tiny_llama(models_dir / "tiny-llama")
    chosen = tmp_path / "chosen data"
    nvml = FakeNvml([FakeGpu(name="NVIDIA GeForce RTX 4070", total=12 * 1024**3)], driver="555.42.02")
    with ScriptedOpenAIServer(models=["llama3.2:3b", "qwen2.5:7b"], ollama=True) as ollama:
        ollama.script(text(["Hello", " and welcome!"]))
        wizard = _wizard(qtbot, cores, nvml=nvml, ports={"ollama": ollama.port, **NO_OTHER_SERVERS},
                         data_dir=tmp_path / "default")

        # 1. data folder: a folder that is a file is refused with its name; then the chosen folder opens the core
        (tmp_path / "a-file").write_text("x")
        wizard.data_page.path_edit.setText(str(tmp_path / "a-file"))
        _click(qtbot, wizard.next_button)
        assert wizard.currentId() == wizard.PAGE_DATA and wizard.core is None
        assert wizard.data_page.status.is_error and "a-file" in wizard.data_page.status.text()
        wizard.data_page.path_edit.setText(str(chosen))
        _click(qtbot, wizard.next_button)
        assert wizard.currentId() == wizard.PAGE_COMPUTER
        core = wizard.core
        assert core is not None and core.paths.root == chosen
        assert chosen_data_dir() == chosen.resolve()  # remembered for the next start
        _click(qtbot, wizard.back_button)  # the folder is open now: going back shows it, fixed
        assert not wizard.data_page.path_edit.isEnabled() and "using this folder now" in wizard.data_page.note.text()
        _click(qtbot, wizard.next_button)
        assert wizard.currentId() == wizard.PAGE_COMPUTER and wizard.core is core

        # 2. this computer: the GPU from NVML at once, CUDA from torch off the GUI thread
        page = wizard.computer_page
        qtbot.waitUntil(lambda: "RTX 4070" in page.gpu_label.text(), timeout=10_000)
        assert "12.0 GiB" in page.gpu_label.text() and "555.42.02" in page.gpu_label.text()
        assert "up to about 14B" in page.advice_label.text()
        qtbot.waitUntil(lambda: "PyTorch" in page.cuda_label.text() and "Checking" not in page.cuda_label.text(),
                        timeout=60_000)
        assert "cannot use the GPU" in page.cuda_label.text()  # a CPU build of torch beside an NVIDIA card
        _click(qtbot, wizard.next_button)

        # 3. keys: no system keyring here, so the passphrase is chosen now (typed twice)
        keys = wizard.keys_page
        qtbot.waitUntil(lambda: keys.fields.isVisible(), timeout=10_000)
        assert "No system keyring" in keys.explain.text()
        keys.passphrase_edit.setText("correct horse battery")
        keys.confirm_edit.setText("correct horse stable")
        _click(qtbot, wizard.next_button)
        assert wizard.currentId() == wizard.PAGE_KEYS and "differ" in keys.status.text()
        keys.confirm_edit.setText("correct horse battery")
        _click(qtbot, wizard.next_button)
        qtbot.waitUntil(lambda: wizard.currentId() == wizard.PAGE_MODELS, timeout=20_000)
        assert not core.credentials.locked and core.credentials.mode == "passphrase"

        # 4. model folders: one added, scanned, and its chat model counted
        models = wizard.models_page
        qtbot.waitUntil(lambda: not models.scanning, timeout=20_000)
        models.add_folder(str(models_dir))
        qtbot.waitUntil(lambda: not models.scanning, timeout=30_000)
        assert "Found 1 model; 1 can chat here" in models.result_label.text()
        assert core.settings.model_folders == [models_dir]
        _click(qtbot, wizard.next_button)

        # 5. chat: Ollama found by itself; Try it gets a real answer through the router
        chat = wizard.chat_page
        qtbot.waitUntil(lambda: chat.model_combo.count() == 3, timeout=10_000)
        labels = [chat.model_combo.itemText(i) for i in range(3)]
        assert labels == ["llama3.2:3b — Ollama on this computer", "qwen2.5:7b — Ollama on this computer",
                          "tiny-llama — model folder, runs inside Nexus Studio"]
        assert "Ollama at" in chat.scan_label.text() and not chat.steps_box.isVisible()
        assert chat.model_combo.currentIndex() == 0  # a running server comes before loading a folder here
        _click(qtbot, chat.try_button)
        qtbot.waitUntil(lambda: "Hello and welcome!" in chat.answer.text() or chat.answer.is_error, timeout=20_000)
        assert "Hello and welcome!" in chat.answer.text(), chat.answer.text()
        assert not chat.answer.is_error
        assert ollama.requests[-1].body["model"] == "llama3.2:3b"
        assert core.routing.table.tiers == {}  # trying changes nothing; leaving the step does

        # another model chosen after trying one: it becomes the default alone, and is said to be untried
        chat.model_combo.setCurrentIndex(1)
        _click(qtbot, wizard.next_button)
        ready = wizard.ready_page
        assert "qwen2.5:7b (not tried yet" in ready.chat_label.text()
        assert {a.model for a in core.routing.table.tiers.values()} == {"ollama/qwen2.5:7b"}
        _click(qtbot, wizard.back_button)
        assert wizard.currentId() == wizard.PAGE_CHAT
        chat.model_combo.setCurrentIndex(0)
        _click(qtbot, wizard.next_button)
        assert all(a.fallbacks == [] for a in core.routing.table.tiers.values())  # nothing piled up

        # 6. ready: the summary, then Finish
        assert wizard.currentId() == wizard.PAGE_READY
        assert "ollama/llama3.2:3b" in ready.chat_label.text() and "Hello and welcome!" in ready.chat_label.text()
        assert "RTX 4070" in ready.gpu_label.text() and "passphrase" in ready.keys_label.text()
        _click(qtbot, wizard.finish_button)

    assert core.providers.config("ollama").base_url == ollama.base_url
    assert core.routing.table.tiers[Tier.STANDARD].model == "ollama/llama3.2:3b"
    saved = json.loads(core.paths.settings_file.read_text())
    assert saved["first_run_done"] is True
    assert not first_run_due(chosen)
    assert len(core.calls.recent(10)) == 1  # the hello went through the router and was recorded


def test_nothing_found_says_what_to_do_then_a_hosted_key_works(qtbot, tmp_path, cores) -> None:
    secret = "sk-wizard-hosted-5d1f0c"
    closed = {"ollama": 0, **NO_OTHER_SERVERS}  # nothing to find
    with ScriptedOpenAIServer(api_key=secret, models=["big-model", "small-model"]) as hosted:
        hosted.script(error(401, "bad key"), text(["Hi!"]))
        wizard = _wizard(qtbot, cores, keyring=MemoryKeyring(), ports=closed, data_dir=tmp_path / "data")
        _click(qtbot, wizard.next_button)
        for _ in range(3):  # computer, keys (a keyring: nothing to type), models
            _click(qtbot, wizard.next_button)
        assert "keyring" in wizard.keys_page.explain.text()
        chat = wizard.chat_page
        assert wizard.currentId() == wizard.PAGE_CHAT
        qtbot.waitUntil(lambda: "No LLM server" in chat.scan_label.text(), timeout=10_000)
        assert chat.model_combo.count() == 0 and not chat.try_button.isEnabled()
        assert chat.steps_box.isVisible()
        steps = chat.steps_label.text()
        assert "ollama serve" in steps and "https://openrouter.ai/keys" in steps

        chat.preset_combo.setCurrentIndex(chat.preset_combo.findData("custom"))
        assert chat.url_edit.isVisible()
        chat.url_edit.setText(hosted.base_url)
        chat.key_edit.setText("sk-wizard-wrong-5d1f0c")
        _click(qtbot, chat.check_button)
        qtbot.waitUntil(lambda: chat.hosted_status.is_error, timeout=10_000)
        assert "not saved" in chat.hosted_status.text()
        assert wizard.core.providers.config("custom") is None and chat.model_combo.count() == 0
        chat.key_edit.setText(secret)
        qtbot.keyClick(chat.key_edit, Qt.Key.Key_Return)  # Enter checks the key; it does not leave the step
        qtbot.waitUntil(lambda: chat.model_combo.count() == 2, timeout=10_000)
        assert wizard.currentId() == wizard.PAGE_CHAT
        assert chat.key_edit.text() == "" and "offers 2 model" in chat.hosted_status.text()
        assert chat.model_combo.currentText() == "big-model — custom"
        _click(qtbot, chat.try_button)  # the service refuses once: the error is shown, with the next steps
        qtbot.waitUntil(lambda: chat.answer.is_error, timeout=10_000)
        assert "did not answer" in chat.answer.text() and chat.steps_box.isVisible()
        _click(qtbot, chat.try_button)
        qtbot.waitUntil(lambda: "Hi!" in chat.answer.text() or "Asking" not in chat.answer.text(), timeout=20_000)
        assert "Hi!" in chat.answer.text() and not chat.answer.is_error, chat.answer.text()
        _click(qtbot, wizard.next_button)
        _click(qtbot, wizard.finish_button)

    core = wizard.core
    assert core.routing.table.tiers[Tier.STANDARD].model == "custom/big-model"
    assert core.providers.has_stored_key("custom")
    for path in core.paths.root.rglob("*"):  # the key is nowhere in plain text
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_skipping_on_the_first_page_opens_the_usual_folder_and_does_not_ask_again(qtbot, tmp_path,
                                                                                   monkeypatch) -> None:
    folder = tmp_path / "usual"
    monkeypatch.setattr("app.first_run.launch.open_core",
                        lambda chosen, interactive: Core.open(chosen, nvml=FakeNvml([]),
                                                              keyring_backend=MemoryKeyring()))
    assert first_run_due(folder)

    def skip() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, FirstRunWizard):  # not shown yet
            QTimer.singleShot(100, skip)
            return
        qtbot.mouseClick(dialog.skip_button, Qt.MouseButton.LeftButton)

    QTimer.singleShot(100, skip)
    core = run_first_run(folder)
    try:
        assert core is not None and core.paths.root == folder
        assert core.settings.first_run_done and not first_run_due(folder)
        assert chosen_data_dir() is None  # nothing chosen: the default stays the default
    finally:
        core.close(job_timeout=5)


def test_help_menu_runs_the_wizard_again_over_the_open_folder(window, qtbot) -> None:
    action = next(a for a in window.findChildren(QAction) if a.text() == "Set-up wizard…")
    action.trigger()
    wizard = window.first_run_wizard
    qtbot.waitExposed(wizard)
    assert wizard.core is window.ctx.core
    assert not wizard.data_page.path_edit.isEnabled()
    assert "using this folder now" in wizard.data_page.note.text()
    _click(qtbot, wizard.next_button)
    assert wizard.currentId() == wizard.PAGE_COMPUTER
    _click(qtbot, wizard.skip_button)
    assert window.ctx.core.settings.first_run_done


def test_a_damaged_settings_file_does_not_bring_the_wizard_back(tmp_path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "settings.json").write_text("{ not json")
    assert not first_run_due(folder)
    (folder / "settings.json").write_text(json.dumps({"theme": "dark"}))
    assert first_run_due(folder)


def test_every_control_of_the_wizard_explains_itself(qtbot, tmp_path, cores) -> None:
    from tests.gui.tooltip_audit import controls_without_tooltips

    wizard = _wizard(qtbot, cores, keyring=MemoryKeyring(), ports={"ollama": 0, **NO_OTHER_SERVERS},
                     data_dir=tmp_path / "data")
    assert controls_without_tooltips(wizard) == []


def test_the_first_launch_opens_the_wizard_before_the_window_then_the_chat(tmp_path) -> None:
    """The real start-up (app.main.main) in a child process, where a script plays the person: skip the wizard,
    see the window open on the chat. A child, because a finished QApplication.exec() changes this process."""
    folder = tmp_path / "fresh"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    env.pop("NEXUS_HOME", None)
    done = subprocess.run([sys.executable, "-c", LAUNCH_DRIVER, str(folder)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["wizard", "chat"], done.stdout
    assert not first_run_due(folder)
    assert json.loads((folder / "settings.json").read_text())["first_run_done"] is True


def test_the_wizard_survives_theme_switches(window, qtbot) -> None:
    """Qt 6.11 crashes when a QWizard exists while the style sheet changes twice: this one is a plain dialog."""
    window.show_first_run_wizard()
    wizard = window.first_run_wizard
    for theme in ("dark", "light", "dark"):
        window.ctx.set_theme(theme, save=False)
        qtbot.wait(50)
    assert wizard.isVisible() and wizard.title_label.text() == "Welcome to Nexus Studio"
    wizard.reject()
    for theme in ("light", "dark"):
        window.ctx.set_theme(theme, save=False)
    assert window.isVisible()
