"""Fixtures for the hardening suites: a fake-model coach shared by a module."""

from __future__ import annotations

from pathlib import Path

import pytest

from coach.config import load_settings
from tests.hardening.support import fake_overrides


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hardening")


@pytest.fixture(scope="module")
def module_settings(fake_root):
    return load_settings(overrides=fake_overrides(fake_root), environ={})


@pytest.fixture(scope="module")
def fake_coach(module_settings):
    from coach.wiring import build_coach

    return build_coach(module_settings)
