"""The shipped module template teaches working code, and template versions evolve without losing the old."""

from __future__ import annotations

from pathlib import Path

from nexus_core.evolve.templates import BUILTIN_DIR, TemplateStore
from nexus_core.modules.validate import validate_module
from tests.support.module_factory import make_module


def test_the_shipped_template_is_itself_a_valid_module(tmp_path: Path) -> None:
    template = TemplateStore(tmp_path / "templates").current()
    assert template.version == 1 and template.folder == BUILTIN_DIR / "v1"
    folder = make_module(tmp_path, "service", adapter=template.read("adapter.py"),
                         tests=template.read("test_adapter.py"), class_name="ServiceAdapter",
                         network_hosts=["api.example.com"], credentials=[])
    report = validate_module(folder)
    assert report.passed, [(c.name, c.detail) for c in report.failures()]
    assert "3 test(s) passed" in next(c.detail for c in report.checks if c.name == "tests")


def test_evolving_adds_a_version_with_the_example_and_keeps_the_older_ones(tmp_path: Path) -> None:
    store = TemplateStore(tmp_path / "templates")
    v2 = store.evolve("pagination", "# paged\n", "learned pagination")
    v3 = store.evolve("rate_limit_retry", "# retries\n", "learned retries")
    assert [t.version for t in store.versions()] == [1, 2, 3] and store.current().version == 3
    assert v3.patterns == ["pagination", "rate_limit_retry"] and v3.parent == 2 and v2.parent == 1
    assert set(v3.examples()) == {"pagination", "rate_limit_retry"}
    assert next(iter(v3.examples_for("a paged listing with pagination"))) == "pagination"
    assert v3.read("guide.md") == store.versions()[0].read("guide.md")
    (tmp_path / "templates" / "v3" / "template.json").write_text("{broken")
    assert store.current().version == 2  # a damaged version is skipped, not fatal
