"""The repository keeps its promises: CI runs the README's command, every program is listed
in the README and names its book section."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import gopl_trio

REPO = Path(__file__).resolve().parent.parent
HELPERS = {"treegen", "stdin", "links"}  # shared modules, not book programs


def program_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.iter_modules(gopl_trio.__path__)
        if not info.name.startswith("_") and info.name not in HELPERS
    )


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (REPO / "README.md").read_text())


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    quick_start = readme_commands()[:2]
    assert len(quick_start) == 2
    assert "gopl_trio.du4 ~" in quick_start[0]
    assert "pytest" in quick_start[1]
    assert quick_start[1] in (REPO / ".ci" / "run").read_text()


@pytest.mark.parametrize("name", program_modules())
def test_every_program_is_in_the_readme_table(name: str) -> None:
    assert f"| `{name}` |" in (REPO / "README.md").read_text()


@pytest.mark.parametrize("name", program_modules())
def test_every_program_names_its_book_section(name: str) -> None:
    doc = importlib.import_module(f"gopl_trio.{name}").__doc__ or ""
    assert "§" in doc or "Learning Go" in doc, f"{name}: no book section in the docstring"
