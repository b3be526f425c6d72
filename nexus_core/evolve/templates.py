"""Versioned module templates: what the builder shows the model (a guide, a skeleton adapter and tests, and
examples of modules that were built successfully).

Version 1 ships in ``resources/module_templates/v1``; the co-evolution loop writes later versions into
``<data>/templates/vN`` (the parent's files plus the new example), so a bad version can be dropped by
deleting its folder. The builder always uses the newest readable version.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nexus_core.atomic import atomic_write_text

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "resources" / "module_templates"
FORMAT = "nexus-module-template"
FILES = ("guide.md", "adapter.py", "test_adapter.py")
MAX_EXAMPLES_SHOWN = 2


@dataclass
class Template:
    version: int
    folder: Path
    note: str = ""
    parent: int | None = None
    patterns: list[str] = field(default_factory=list)
    created_at: str = ""

    def read(self, name: str) -> str:
        return (self.folder / name).read_text(encoding="utf-8")

    def examples(self) -> dict[str, str]:
        """Pattern → adapter source of a module built successfully for it."""
        folder = self.folder / "examples"
        return {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.py"))} if folder.is_dir() else {}

    def examples_for(self, text: str) -> dict[str, str]:
        """The examples whose pattern words appear in ``text`` first, at most a few."""
        words = set(re.findall(r"[a-z0-9]+", text.lower()))
        ranked = sorted(self.examples().items(),
                        key=lambda item: -len(words & set(item[0].lower().split("_"))))
        return dict(ranked[:MAX_EXAMPLES_SHOWN])


def _read(folder: Path) -> Template | None:
    try:
        meta = json.loads((folder / "template.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or not all((folder / name).is_file() for name in FILES):
            return None
        return Template(int(meta["version"]), folder, str(meta.get("note") or ""), meta.get("parent"),
                        list(meta.get("patterns") or []), str(meta.get("created_at") or ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class TemplateStore:
    def __init__(self, data_dir: Path, builtin_dir: Path = BUILTIN_DIR) -> None:
        self.data_dir = data_dir
        self.builtin_dir = builtin_dir

    def versions(self) -> list[Template]:
        """Every readable version, oldest first (a damaged folder is skipped, not fatal)."""
        found: dict[int, Template] = {}
        for root in (self.builtin_dir, self.data_dir):
            if root.is_dir():
                for folder in sorted(root.glob("v*")):
                    template = _read(folder)
                    if template is not None:
                        found[template.version] = template
        return [found[v] for v in sorted(found)]

    def current(self) -> Template:
        versions = self.versions()
        if not versions:
            raise FileNotFoundError(f"no module template found in {self.builtin_dir}")
        return versions[-1]

    def evolve(self, pattern: str, adapter_source: str, note: str) -> Template:
        """A new version: the current one plus ``adapter_source`` as the example for ``pattern``."""
        parent = self.current()
        version = parent.version + 1
        target = self.data_dir / f"v{version}"
        partial = self.data_dir / f"v{version}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for name in FILES:
            shutil.copy2(parent.folder / name, partial / name)
        (partial / "examples").mkdir()
        for old, source in parent.examples().items():
            (partial / "examples" / f"{old}.py").write_text(source, encoding="utf-8")
        slug = re.sub(r"[^a-z0-9]+", "_", pattern.lower()).strip("_") or "example"
        (partial / "examples" / f"{slug}.py").write_text(adapter_source, encoding="utf-8")
        patterns = [*parent.patterns, pattern] if pattern not in parent.patterns else parent.patterns
        atomic_write_text(partial / "template.json", json.dumps({
            "format": FORMAT, "version": version, "parent": parent.version, "note": note, "patterns": patterns,
            "created_at": datetime.now(UTC).isoformat()}, indent=2))
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        template = _read(target)
        assert template is not None
        return template
