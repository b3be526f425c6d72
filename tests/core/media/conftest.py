"""Tiny diffusers pipelines built once per test session (random weights, real files, real loading code)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("diffusers")
    from tests.support.tiny_models import build_tiny_stable_diffusion

    return build_tiny_stable_diffusion(tmp_path_factory.mktemp("media") / "tiny-sd")


@pytest.fixture(scope="session")
def tiny_svd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("diffusers")
    from tests.support.tiny_models import build_tiny_svd

    return build_tiny_svd(tmp_path_factory.mktemp("media") / "tiny-svd")


@pytest.fixture
def start_image(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "start.png"
    image = Image.new("RGB", (40, 30))
    image.putdata([(x * 6, y * 8, 120) for y in range(30) for x in range(40)])
    image.save(path)
    return path
