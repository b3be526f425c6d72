"""``nexus-studio``: start the GUI. The window is painted before any panel (or heavy library) loads."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from nexus_core.memory import collect_garbage

log = logging.getLogger(__name__)

# How long a thread may hold the interpreter lock while another waits. Python's default (5 ms) lets a
# CPU-bound job thread stall the GUI for that long at every Qt call that releases the lock; painting a
# chart makes hundreds of such calls (benchmarks/responsiveness.py: ~290 ms stalls at 5 ms, ~40 at 1 ms).
GUI_SWITCH_INTERVAL_S = 0.001


def tune_interpreter_for_gui() -> None:
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nexus-studio", description="Nexus Studio desktop app")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="data folder to use (default: $NEXUS_HOME or the platform user-data folder)")
    parser.add_argument("--screenshot", type=Path, metavar="DIR", default=None,
                        help="render the main window and every panel to DIR/<panel>.png offscreen, then exit")
    parser.add_argument("--panel", default=None, help="panel to open first (e.g. monitor)")
    parser.add_argument("--startup-report", type=Path, default=None, help=argparse.SUPPRESS)
    return parser.parse_known_args(argv)[0]


def _preload_then_freeze(core: Any) -> None:
    """Import provider SDKs and probe the sandbox, then hide everything loaded so far from the garbage collector.

    Start-up leaves hundreds of thousands of long-lived objects; without ``gc.freeze()`` each full
    collection walks them all, a 40-100 ms pause of the GUI thread in the middle of a streaming answer.
    """
    try:
        core.providers.preload_sdks()
        from nexus_core.sandbox import sandbox_capabilities

        caps = sandbox_capabilities()  # probed once, so approval dialogs can say how strong the sandbox is
        log.info("sandbox: %s (%s)", caps.strength, caps.reason)
    except Exception:
        log.exception("preloading provider SDKs or probing the sandbox failed")
    collect_garbage()  # on the GUI thread (see app.gc_policy): garbage frozen now would never be freed
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    tune_interpreter_for_gui()
    if args.screenshot is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.context import AppContext
    from app.errors import ExceptionRouter
    from app.gc_policy import GuiGarbageCollector
    from app.icons import app_icon
    from app.panels import load_builtin_panels
    from app.qt_messages import route_qt_messages_to_log
    from app.startup import open_core
    from app.window import FirstPaintWatcher, MainWindow

    route_qt_messages_to_log()
    QApplication.setApplicationName("Nexus Studio")
    QApplication.setOrganizationName("Nexus Studio")
    QApplication.setDesktopFileName("nexus-studio")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setWindowIcon(app_icon())
    collector = GuiGarbageCollector(app).install()  # garbage is collected on this thread only
    interactive = args.screenshot is None and args.startup_report is None
    guard = None
    if interactive:  # one window per data folder: a second launch brings the running one to the front
        from app.single_instance import SingleInstance
        from nexus_core.paths import default_data_dir

        guard = SingleInstance(args.data_dir or default_data_dir())
        if guard.activate_running():
            print("nexus-studio: already running on this data folder; brought it to the front", file=sys.stderr)
            collector.uninstall()
            return 0

    wizard_ran = False
    if interactive:
        from app.first_run.launch import bring_dialog_to_front, first_run_due, run_first_run

        wizard_ran = first_run_due(args.data_dir)
        if guard is not None and wizard_ran:  # a second launch during the wizard brings the wizard forward
            guard.listen(bring_dialog_to_front)
    core = run_first_run(args.data_dir) if wizard_ran else open_core(args.data_dir, interactive=interactive)
    if core is None:
        collector.uninstall()
        return 2
    ctx = AppContext(core)
    if args.data_dir is not None:
        ctx.data_dir_source = "option"
    ctx.set_theme(core.settings.theme, save=False)
    errors = ExceptionRouter(str(core.paths.log_file))
    errors.install()
    load_builtin_panels()
    window = MainWindow(ctx, errors, persist_state=interactive)
    if guard is not None:
        if guard.folder != core.paths.root.resolve():  # the wizard chose another folder: be found there instead
            guard.close()
            guard = SingleInstance(core.paths.root)
        if guard.server is None:
            guard.listen(window.bring_to_front)
        guard.hand_to(window.bring_to_front)
    first_panel = args.panel if args.panel in window.slots else window.restore_ui_state()
    if wizard_ran and "chat" in window.slots:
        first_panel = "chat"
    watcher = FirstPaintWatcher(window)
    exit_code = 0

    def after_first_paint() -> None:
        nonlocal exit_code
        painted_at = time.time()
        if args.startup_report is not None:
            from nexus_core.runtime import heavy_modules_loaded

            args.startup_report.write_text(json.dumps({"painted_at": painted_at,
                                                       "heavy_modules": heavy_modules_loaded(),
                                                       "switch_interval_s": sys.getswitchinterval()}))
            window.confirm_close = False
            app.quit()
            return
        window.show_panel(first_panel)
        core.telemetry.start()
        # Provider SDKs take ~1 s to import: do it now, off the GUI thread, not when the first message is sent.
        threading.Thread(target=_preload_then_freeze, args=(core,), name="nexus-preload", daemon=True).start()
        # Enabled integration modules start in their sandboxed workers, after the first paint.
        core.runner.submit(lambda _ctx: core.modules.start_enabled(), name="Start integration modules")
        core.modules.start_monitor()
        if core.settings.server_enabled and args.screenshot is None:  # the local server, when set to start with the app
            core.runner.submit(lambda _ctx: core.server.start(), name="Start the local server")
        if core.settings.evolve_enabled and args.screenshot is None:  # the co-evolution loop, when switched on
            core.evolve.start_background(lambda fn, name: core.runner.submit(lambda _ctx: fn(), name=name))
        if core.problems:
            errors.report("Some settings were repaired", "\n\n".join(core.problems), warning=True)
        if args.screenshot is not None:
            from app.screenshot import take_screenshots

            try:
                for path in take_screenshots(window, args.screenshot):
                    print(path)
            except Exception as exc:
                print(f"nexus-studio: screenshots failed: {exc}", file=sys.stderr)
                exit_code = 1
            window.confirm_close = False
            window.close()
            app.quit()

    watcher.painted.connect(lambda: QTimer.singleShot(0, after_first_paint))
    window.show()
    code = app.exec()
    window.close()
    ctx.close()
    collector.uninstall()  # the GUI thread no longer serves requests: the core's jobs collect where they run
    core.close()
    errors.uninstall()
    return exit_code or code


if __name__ == "__main__":
    sys.exit(main())
