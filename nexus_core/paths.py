"""Where user data lives: ``$NEXUS_HOME`` if set, else the platform's user-data folder.

Nothing the user creates (conversations, runs, modules, credentials, settings) is ever written
inside the source tree.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from nexus_core.errors import DataDirError

APP_NAME = "nexus-studio"
ENV_HOME = "NEXUS_HOME"


def platform_data_dir() -> Path:
    """The platform's user-data folder for the app (used unless ``$NEXUS_HOME`` or a chosen folder says otherwise)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False, roaming=True))


def default_data_dir() -> Path:
    """``$NEXUS_HOME``, else the folder picked in the first-run wizard or settings, else the platform default."""
    override = os.environ.get(ENV_HOME, "").strip()
    if override:
        return Path(override).expanduser()
    from nexus_core.location import chosen_data_dir

    return chosen_data_dir() or platform_data_dir()


@dataclass(frozen=True)
class DataPaths:
    """Every well-known location inside one data folder."""

    root: Path

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    @property
    def store_file(self) -> Path:
        return self.root / "nexus.db"

    @property
    def credentials_file(self) -> Path:
        """Fernet-encrypted API keys; the key to it lives in the OS keyring (or comes from a passphrase)."""
        return self.root / "credentials.vault"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def log_file(self) -> Path:
        return self.logs_dir / "nexus.log"

    @property
    def backups_dir(self) -> Path:
        return self.root / "backups"

    @property
    def ui_state_file(self) -> Path:
        return self.root / "ui-state.json"

    @property
    def workspace_dir(self) -> Path:
        return self.root / "workspace"

    @property
    def modules_dir(self) -> Path:
        """Installed and generated modules (``<name>/versions/v<N>``); removed ones go to ``.archive``."""
        return self.root / "modules"

    @classmethod
    def prepare(cls, root: Path | str | None = None) -> DataPaths:
        """Create the data folder tree and prove it is writable, or raise a clear ``DataDirError``."""
        paths = cls(Path(root).expanduser() if root is not None else default_data_dir())
        hint = f"Fix the folder's permissions, or set {ENV_HOME} to a writable folder and start again."
        if paths.root.exists() and not paths.root.is_dir():
            raise DataDirError("The data folder path exists but is a file, not a folder.", path=paths.root,
                               hint=f"Move that file away, or set {ENV_HOME} to another folder.")
        try:
            for folder in (paths.root, paths.logs_dir, paths.backups_dir):
                folder.mkdir(parents=True, exist_ok=True)
            probe = paths.root / f".write-probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise DataDirError(f"The data folder cannot be written ({exc.strerror or exc}).",
                               path=paths.root, hint=hint) from exc
        return paths
