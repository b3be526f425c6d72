"""Speech jobs heard while they are made: each spoken sentence (a media preview event) goes to the audio
output as it arrives, and the stream ends with the job. The Media panel and the chat's Read aloud share it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from app.bridge import EmitterBridge
from app.context import AppContext
from nexus_core.jobs.models import JobEvent
from nexus_core.media.playback import AudioPlayer
from nexus_core.media.service import MediaPreview


class SpeechPlayback(QObject):
    finished = Signal(str)  # the job's final state

    def __init__(self, ctx: AppContext, player: AudioPlayer | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.player = player or AudioPlayer()
        self.job_id: str | None = None
        self._streaming = False
        self._previews = EmitterBridge(ctx.core.media.previews, self)
        self._previews.fired.connect(self._on_preview)
        ctx.job_events.fired.connect(self._on_job)

    @property
    def available(self) -> bool:
        return self.player.available

    def follow(self, handle: Any) -> None:
        """Play this speech job's sentences as they come (a previous one is stopped)."""
        self.stop()
        self.job_id = handle.id

    def stop(self) -> None:
        self.job_id = None
        self._streaming = False
        self.player.stop()

    def _on_preview(self, preview: MediaPreview) -> None:
        if preview.job_id != self.job_id or preview.audio is None or not self.player.available:
            return
        if not self._streaming:
            self.player.begin_stream(preview.audio.rate)
            self._streaming = True
        self.player.feed(preview.audio)

    def _on_job(self, event: JobEvent) -> None:
        if event.job.id != self.job_id or not event.job.state.finished:
            return
        if self._streaming:
            self.player.end_stream()
        self._streaming = False
        self.job_id = None
        self.finished.emit(event.job.state.value)

    def close(self) -> None:
        self.stop()
        self._previews.close()
