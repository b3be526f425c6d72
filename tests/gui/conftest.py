"""Build the real main window over a real core in a temporary data folder, as ``app.main`` does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.context import AppContext
from app.errors import ExceptionRouter
from app.gc_policy import GuiGarbageCollector
from app.panels import load_builtin_panels
from app.window import MainWindow
from nexus_core.core import Core
from tests.support.fake_nvml import FakeNvml

WindowFactory = Callable[..., MainWindow]


@pytest.fixture(scope="session", autouse=True)
def gui_garbage_collector(qapp) -> Iterator[GuiGarbageCollector]:  # type: ignore[no-untyped-def]
    """As in the app, garbage is collected on the GUI thread only (see ``app.gc_policy``), for every GUI test."""
    collector = GuiGarbageCollector().install()
    yield collector
    collector.uninstall()


@pytest.fixture
def make_window(qtbot, nexus_home: Path) -> Iterator[WindowFactory]:
    opened: list[tuple[MainWindow, AppContext, Core, ExceptionRouter]] = []

    def build(*, nvml: FakeNvml | None = None, data_dir: Path | None = None, keyring_backend: Any = None) -> MainWindow:
        core = Core.open(data_dir or nexus_home, nvml=nvml, keyring_backend=keyring_backend)
        ctx = AppContext(core)
        ctx.set_theme(core.settings.theme, save=False)
        errors = ExceptionRouter(str(core.paths.log_file))
        load_builtin_panels()
        window = MainWindow(ctx, errors)
        window.confirm_close = False
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        opened.append((window, ctx, core, errors))
        return window

    yield build
    for window, ctx, core, errors in opened:
        window.close()
        for dialog in list(errors.dialogs):
            dialog.close()
        ctx.close()
        core.close(job_timeout=5)


@pytest.fixture
def window(make_window: WindowFactory) -> MainWindow:
    return make_window()
