"""``python -m gopl_trio``: list the programs, with their book sections, and how to run one.

The list is read from the programs' own docstrings (without importing them), so it cannot
drift from the code: a module is a program if its name does not start with ``_`` and it is
not one of the shared helpers below.
"""

from __future__ import annotations

import ast
import pkgutil
import re
import sys
from pathlib import Path

import gopl_trio
from gopl_trio._run import run

HELPERS = {"treegen"}  # shared modules without a book program of their own
_SECTION = re.compile(r"§\s?\d+(?:\.\d+)*(?:[–-]\d+(?:\.\d+)*)?|Learning Go")
# What the listing shows in its own columns: "name: " in front, the Go path and section after.
_NOISE = re.compile(r"^\w+: |\s*\(?:?\s*(?:gopl\.io/\S*|exercise [\d.]+)?,?\s*\(?§[^)]*\)?\.?$")


def programs() -> list[tuple[str, str, str]]:
    """(module, book section, one-line lesson) for every program in the package."""
    rows = []
    for info in pkgutil.iter_modules(gopl_trio.__path__):
        if info.name.startswith("_") or info.name in HELPERS:
            continue
        source = Path(gopl_trio.__path__[0], f"{info.name}.py").read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(source)) or ""
        section = _SECTION.search(doc)
        lesson = _NOISE.sub("", doc.split("\n\n")[0].replace("\n", " ")).rstrip(":. ")
        lesson = lesson.removesuffix(" of").replace("``", "")
        if len(lesson) > 72:
            lesson = lesson[:71].rstrip() + "…"
        rows.append(
            (info.name, section.group() if section else "", lesson[:1].upper() + lesson[1:])
        )
    return sorted(rows, key=_book_order)


def _book_order(row: tuple[str, str, str]) -> tuple[list[int], str]:
    numbers = [int(n) for n in re.findall(r"\d+", row[1].split("–")[0])] or [99]
    return numbers, row[0]


async def print_programs() -> None:
    rows = programs()
    width = max(len(name) for name, _, _ in rows)
    section_width = max(len(section) for _, section, _ in rows)
    print((gopl_trio.__doc__ or "gopl_trio").splitlines()[0])
    print()
    for name, section, lesson in rows:
        print(f"  {name:<{width}}  {section:<{section_width}}  {lesson}")
    print()
    print("Run one:   python -m gopl_trio.NAME --help")
    print("Guide:     docs/porting-guide.md (Go construct -> trio)")


def main() -> int:
    run("gopl_trio", print_programs)  # quiet under `| head`, like every program
    return 0


if __name__ == "__main__":
    sys.exit(main())
