"""The repository keeps its promises: CI runs the README's command, every program is listed
in the README and names its book section."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import gopl_trio
from gopl_trio.__main__ import HELPERS, programs

REPO = Path(__file__).resolve().parent.parent


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


def test_python_m_gopl_trio_lists_every_program_with_its_section() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gopl_trio"], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (0, "")
    listed = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("  ")}
    assert sorted(listed) == program_modules()
    for name, section, lesson in programs():
        assert section and lesson, name
        assert section in listed[name] and lesson in listed[name]
    assert "python -m gopl_trio.NAME --help" in done.stdout
