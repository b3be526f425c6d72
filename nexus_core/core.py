"""One object that opens everything the app runs on, for the GUI and the CLI alike.

Opening order: data folder (must be writable) → logging → settings (damage repaired and reported) →
store (backed up and migrated, or refused with a clear error) → job runner → telemetry sampler
(created, not started: the GUI starts it after the window is painted).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.config import Settings, load_settings, save_settings
from nexus_core.jobs import JobRunner
from nexus_core.logs import setup_logging
from nexus_core.paths import DataPaths
from nexus_core.store import Store
from nexus_core.telemetry import TelemetrySampler

log = logging.getLogger(__name__)


@dataclass
class Core:
    paths: DataPaths
    settings: Settings
    store: Store
    runner: JobRunner
    telemetry: TelemetrySampler
    problems: list[str] = field(default_factory=list)  # things the user should be told once, at start

    @classmethod
    def open(cls, data_dir: Path | str | None = None, *, nvml: Any = None) -> Core:
        """Raises ``DataDirError`` or ``StoreError`` (with user-ready messages) when it cannot start."""
        paths = DataPaths.prepare(data_dir)
        loaded = load_settings(paths.settings_file)
        setup_logging(paths.log_file, loaded.settings.log_level)
        log.info("opening Nexus Studio data folder %s", paths.root)
        for problem in loaded.problems:
            log.warning("%s", problem)
        if loaded.problems:
            save_settings(paths.settings_file, loaded.settings)
        store = Store(paths.store_file, backups_dir=paths.backups_dir).open()
        settings = loaded.settings
        runner = JobRunner(store, max_thread_jobs=settings.max_thread_jobs,
                           max_process_jobs=settings.max_process_jobs)
        telemetry = TelemetrySampler(interval_s=settings.monitor_interval_s, window_s=settings.monitor_window_s,
                                     nvml=nvml)
        return cls(paths, settings, store, runner, telemetry, list(loaded.problems))

    def save_settings(self) -> None:
        save_settings(self.paths.settings_file, self.settings)

    def close(self, *, job_timeout: float = 10.0) -> None:
        self.telemetry.stop()
        self.runner.shutdown(cancel=True, timeout=job_timeout)
        self.store.close()
        log.info("Nexus Studio core closed")
