"""Write real module folders for tests: a manifest with correct hashes, an adapter, and its unittest file."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from nexus_core.modules.manifest import file_hashes

# A module with one operation per behaviour the module system must handle.
LAB_ADAPTER = '''
"""A test module: echo, upstream HTTP, failures, a crash, a slow call, a credential."""

import asyncio
import os

from pydantic import BaseModel

from nexus_sdk import BaseAdapter, UpstreamError, operation, register_adapter


class LabConfig(BaseModel):
    base_url: str = ""  # set per test (a loopback server)


@register_adapter
class Lab(BaseAdapter[LabConfig]):
    @operation
    async def echo(self, text: str, times: int = 1) -> dict:
        """Repeat some text.

        Args:
            text: what to repeat
            times: how often
        """
        print(f"echo called with {text!r}")
        return {"echo": text * times}

    @operation
    async def fetch(self, path: str) -> dict:
        """GET a path from the configured service and return its JSON."""
        try:
            response = await self.http.get(self.config.base_url + path)
        except Exception as exc:
            raise UpstreamError(f"unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise UpstreamError(f"HTTP {response.status_code}")
        return response.json()

    @operation
    async def secret_length(self) -> int:
        """Length of the API key (proves it was injected without returning it)."""
        return len(self.credential("TOKEN"))

    @operation(timeout_s=1.0)
    async def slow(self, seconds: float) -> str:
        """Sleep, then answer."""
        await asyncio.sleep(seconds)
        return "done"

    @operation
    async def crash(self) -> None:
        """End the worker process abruptly."""
        os._exit(3)
'''

LAB_TESTS = '''
import asyncio
import unittest

from .adapter import Lab


class LabTest(unittest.TestCase):
    def test_echo(self) -> None:
        self.assertEqual(asyncio.run(Lab({}, {}).call("echo", {"text": "ab", "times": 2})), {"echo": "abab"})
'''


def make_module(root: Path, name: str = "lab", *, adapter: str = LAB_ADAPTER, tests: str = LAB_TESTS,
                version: str = "1.0.0", class_name: str = "Lab", credentials: list[dict[str, Any]] | None = None,
                network_hosts: list[str] | None = None, extra_files: dict[str, str] | None = None,
                **manifest: Any) -> Path:
    """Write ``root/name`` as a module folder and return it (hashes match unless files are edited later)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter.py").write_text(textwrap.dedent(adapter).lstrip(), encoding="utf-8")
    (folder / "test_adapter.py").write_text(textwrap.dedent(tests).lstrip(), encoding="utf-8")
    for rel, text in (extra_files or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
    data = {"schema_version": 1, "name": name, "version": version, "category": "developer", "platform": "Lab",
            "display_name": f"{name.title()} module", "description": "A module written by a test.",
            "entry_point": "adapter.py", "class_name": class_name, "python_dependencies": ["httpx", "pydantic"],
            "test_file": "test_adapter.py",
            "credentials": credentials if credentials is not None else [
                {"name": "TOKEN", "label": "Lab token", "required": False}],
            "network_hosts": network_hosts or [], "config": {},
            "provenance": {"built_by": "user", "created_at": "2026-11-22T08:00:00Z", "files": file_hashes(folder)}}
    data.update(manifest)
    (folder / "manifest.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return folder
