"""Fixtures for the registry's integration tests: our registry as a real process."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ourregistry import OurRegistry

__all__ = ["OurRegistry"]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[OurRegistry]:
    reg = OurRegistry(tmp_path / "reg")
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def shared_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OurRegistry]:
    reg = OurRegistry(tmp_path_factory.mktemp("shared-reg"))
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()
