"""CPU and RAM through psutil: the readings every machine has, GPU or not."""

from __future__ import annotations

import os

import psutil

from nexus_core.telemetry.samples import SystemSample


class SystemReader:
    def __init__(self) -> None:
        self._me = psutil.Process(os.getpid())
        psutil.cpu_percent(None)  # the first call only primes the counter

    def app_pids(self) -> set[int]:
        """This process and every child (process jobs, local model servers we started)."""
        pids = {self._me.pid}
        try:
            pids.update(child.pid for child in self._me.children(recursive=True))
        except psutil.Error:
            pass
        return pids

    def read(self, app_pids: set[int] | None = None) -> SystemSample:
        memory = psutil.virtual_memory()
        rss = 0
        for pid in app_pids or self.app_pids():
            try:
                rss += psutil.Process(pid).memory_info().rss
            except psutil.Error:
                continue
        return SystemSample(
            cpu_percent=psutil.cpu_percent(None),
            cpu_count=psutil.cpu_count() or 1,
            ram_used=memory.total - memory.available,
            ram_total=memory.total,
            swap_used=psutil.swap_memory().used,
            app_rss=rss,
        )
