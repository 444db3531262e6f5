"""Shared test options: long soak, fuzz and crash versions run only with --slow."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False, help="run the long versions too")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long soak, fuzz and crash versions (run with --slow)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="long version: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
