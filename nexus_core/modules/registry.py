"""Where modules are and which version is live: built-ins in ``modules/``, installed ones in the data dir.

Installed modules keep every version (``<data>/modules/<name>/versions/v1``, ``v2``…) so a bad update can be
rolled back; the store records the active one, the enable state, the user's config and the health history.
Installing copies into a temporary folder and renames it into place, so a failure leaves nothing half-way.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.modules.manifest import Manifest, ManifestError, load_manifest
from nexus_core.store import Store

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "modules"
HEALTH_KEEP = 500  # health rows kept per module


class ModuleRegistryError(NexusError):
    """A registry action cannot be done (unknown module, name clash, missing version)."""


@dataclass(frozen=True)
class ModuleRecord:
    name: str
    source: str  # builtin | installed
    folder: Path
    manifest: Manifest
    enabled: bool
    config: dict[str, Any]
    active_version: str


@dataclass(frozen=True)
class HealthEntry:
    at: float
    ok: bool
    kind: str
    latency_ms: float | None
    error: str | None


class ModuleRegistry:
    def __init__(self, store: Store, modules_dir: Path, builtin_dir: Path = BUILTIN_DIR) -> None:
        self.store = store
        self.modules_dir = modules_dir
        self.builtin_dir = builtin_dir
        self.problems: list[tuple[Path, str]] = []  # module folders that could not be read, with why

    # ---- discovery ---------------------------------------------------------------------------------

    def builtin_folders(self) -> list[Path]:
        if not self.builtin_dir.is_dir():
            return []
        return sorted(p for p in self.builtin_dir.iterdir() if p.is_dir() and (p / "manifest.json").is_file())

    def records(self) -> list[ModuleRecord]:
        """Every module, built-in and installed; unreadable ones are listed in ``problems`` instead."""
        self.problems = []
        rows = {r["name"]: r for r in self.store.query("SELECT * FROM modules")}
        out: dict[str, ModuleRecord] = {}
        for folder in self.builtin_folders():
            try:
                manifest = load_manifest(folder)
            except ManifestError as exc:
                self.problems.append((folder, exc.what))
                continue
            row = rows.get(manifest.name)
            if row is None:
                now = time.time()
                self.store.execute("INSERT INTO modules (name, source, enabled, installed_at, updated_at) "
                                   "VALUES (?, 'builtin', 1, ?, ?)", (manifest.name, now, now))
                row = {"enabled": 1, "config": "{}"}
            out[manifest.name] = ModuleRecord(manifest.name, "builtin", folder, manifest, bool(row["enabled"]),
                                              json.loads(row["config"] or "{}"), manifest.version)
        for name, row in rows.items():
            if row["source"] != "installed":
                continue
            try:
                folder = self.version_folder(name, row["active_version"])
                manifest = load_manifest(folder, expected_name=name)
            except (ManifestError, ModuleRegistryError) as exc:
                self.problems.append((self.modules_dir / name, exc.what))
                continue
            out[name] = ModuleRecord(name, "installed", folder, manifest, bool(row["enabled"]),
                                     json.loads(row["config"] or "{}"), row["active_version"])
        return sorted(out.values(), key=lambda r: r.name)

    def record(self, name: str) -> ModuleRecord:
        for record in self.records():
            if record.name == name:
                return record
        raise ModuleRegistryError(f"There is no module named {name!r}.",
                                  hint="`nexus modules list` shows the installed modules.")

    def version_folder(self, name: str, version: str) -> Path:
        row = self.store.query_one("SELECT folder FROM module_versions WHERE name = ? AND version = ?", (name, version))
        if row is None:
            raise ModuleRegistryError(f"Module {name!r} has no installed version {version}.")
        return self.modules_dir / row["folder"]

    def versions(self, name: str) -> list[tuple[str, float]]:
        rows = self.store.query("SELECT version, installed_at FROM module_versions WHERE name = ? "
                                "ORDER BY installed_at", (name,))
        return [(r["version"], r["installed_at"]) for r in rows]

    # ---- changes -----------------------------------------------------------------------------------

    def install(self, source: Path, manifest: Manifest) -> ModuleRecord:
        """Copy a validated module folder in as a new version and make it active."""
        name = manifest.name
        existing = self.store.query_one("SELECT source FROM modules WHERE name = ?", (name,))
        if (existing is not None and existing["source"] == "builtin") or (self.builtin_dir / name).is_dir():
            raise ModuleRegistryError(f"A built-in module is already named {name!r}.",
                                      hint="Give the new module another name (manifest.json and its folder).")
        if any(v == manifest.version for v, _ in self.versions(name)):
            raise ModuleRegistryError(f"{name} {manifest.version} is already installed.",
                                      hint="Raise the version in manifest.json, or roll back to it instead.")
        base = self.modules_dir / name / "versions"
        base.mkdir(parents=True, exist_ok=True)
        number = 1 + max((int(p.name[1:]) for p in base.glob("v*") if p.name[1:].isdigit()), default=0)
        target = base / f"v{number}"
        staging = base / f".v{number}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            shutil.copytree(source, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".git"))
            manifest.write(staging)
            staging.rename(target)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ModuleRegistryError(f"Module {name} could not be copied into place: {exc}", path=target) from exc
        now = time.time()
        relative = target.relative_to(self.modules_dir).as_posix()
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO module_versions (name, version, folder, installed_at, manifest) "
                         "VALUES (?, ?, ?, ?, ?)", (name, manifest.version, relative, now,
                                                    manifest.model_dump_json(exclude_none=True)))
            if existing is None:
                conn.execute("INSERT INTO modules (name, source, active_version, enabled, installed_at, "
                             "updated_at) VALUES (?, 'installed', ?, 1, ?, ?)", (name, manifest.version, now, now))
            else:
                conn.execute("UPDATE modules SET active_version = ?, updated_at = ? WHERE name = ?",
                             (manifest.version, now, name))
        return self.record(name)

    def set_active(self, name: str, version: str) -> None:
        self.version_folder(name, version)  # raises when absent
        self.store.execute("UPDATE modules SET active_version = ?, updated_at = ? WHERE name = ? "
                           "AND source = 'installed'", (version, time.time(), name))

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.record(name)
        self.store.execute("UPDATE modules SET enabled = ?, updated_at = ? WHERE name = ?",
                           (int(enabled), time.time(), name))

    def set_config(self, name: str, config: dict[str, Any]) -> None:
        self.record(name)
        self.store.execute("UPDATE modules SET config = ?, updated_at = ? WHERE name = ?",
                           (json.dumps(config), time.time(), name))

    def remove(self, name: str) -> Path | None:
        """Forget an installed module and move its folder to ``.archive``; built-ins can only be disabled."""
        record = self.record(name)
        if record.source == "builtin":
            raise ModuleRegistryError(f"{name} is built in and cannot be removed.", hint="Disable it instead.")
        archive = self.modules_dir / ".archive"
        archive.mkdir(parents=True, exist_ok=True)
        destination = archive / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        source = self.modules_dir / name
        if source.exists():
            source.rename(destination)
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM modules WHERE name = ?", (name,))
            conn.execute("DELETE FROM module_versions WHERE name = ?", (name,))
        return destination if destination.exists() else None

    # ---- health ------------------------------------------------------------------------------------

    def add_health(self, name: str, *, ok: bool, kind: str, latency_ms: float | None, error: str | None) -> None:
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO module_health (name, at, ok, kind, latency_ms, error) VALUES (?, ?, ?, ?, ?, ?)",
                         (name, time.time(), int(ok), kind, latency_ms, (error or "")[:500] or None))
            conn.execute("DELETE FROM module_health WHERE name = ? AND id NOT IN (SELECT id FROM module_health "
                         "WHERE name = ? ORDER BY id DESC LIMIT ?)", (name, name, HEALTH_KEEP))

    def health(self, name: str, limit: int = 50) -> list[HealthEntry]:
        rows = self.store.query("SELECT at, ok, kind, latency_ms, error FROM module_health WHERE name = ? "
                                "ORDER BY id DESC LIMIT ?", (name, limit))
        return [HealthEntry(r["at"], bool(r["ok"]), r["kind"], r["latency_ms"], r["error"]) for r in rows]
