"""The porting guide's examples run, and the code the guide quotes is the code that runs.

Every `docs/examples/*.py` is a small program whose `main` asserts what the guide says about
it; here each one is run as `python docs/examples/NAME.py` would run it (in process, its
`__main__` block included; the timed ones run on trio's MockClock). Every ```python block in
the guide starts with `# examples/NAME.py` and must appear, line for line, in that file. So a
sentence of the guide with an example cannot drift from what the example does.
"""

from __future__ import annotations

import importlib
import io
import re
import runpy
import sys
import textwrap
from pathlib import Path

import pytest
import trio
import trio.testing

import gopl_trio
from gopl_trio import _memotest

DOCS = Path(__file__).resolve().parent.parent / "docs"
GUIDE = DOCS / "porting-guide.md"
EXAMPLES = DOCS / "examples"
NAMES = sorted(path.stem for path in EXAMPLES.glob("*.py"))

BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
SOURCE = re.compile(r"^# (examples/\w+\.py)\n")
GUIDE_POINTER = re.compile(r'Guide: "([^"]+)"')


def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def headings() -> list[str]:
    prose = BLOCK.sub("", guide())  # a `# comment` in a code block is not a heading
    return [line.lstrip("#").strip() for line in prose.splitlines() if line.startswith("#")]


def test_there_are_examples() -> None:
    assert len(NAMES) >= 15


@pytest.mark.parametrize("name", NAMES)
def test_example_runs(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # As `python docs/examples/NAME.py`: its directory first on sys.path (line_reader is shared).
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / f"{name}.py")])
    runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="__main__")


@pytest.mark.parametrize("name", NAMES)
def test_example_is_used_by_the_guide(name: str) -> None:
    assert f"examples/{name}.py" in guide(), f"{name}.py is not linked or quoted in the guide"
    docstring = (EXAMPLES / f"{name}.py").read_text(encoding="utf-8").split('"""')[1]
    pointers = GUIDE_POINTER.findall(docstring)
    assert pointers, f'{name}.py: its docstring must end with Guide: "SECTION".'
    for pointer in pointers:
        assert any(pointer in heading for heading in headings()), (
            f'{name}.py points to a guide section "{pointer}" that does not exist'
        )


def test_every_linked_example_exists() -> None:
    for path in set(re.findall(r"examples/\w+\.py", guide())):
        assert (DOCS / path).is_file(), f"the guide names {path}, which does not exist"


def quoted_blocks() -> list[tuple[str, str]]:
    blocks = []
    for match in BLOCK.finditer(guide()):
        body = match.group(1)
        source = SOURCE.match(body)
        assert source, f"a python block in the guide names no example file:\n{body[:200]}"
        blocks.append((source.group(1), body[source.end() :]))
    return blocks


def appears_in(excerpt: str, text: str) -> bool:
    """True if the lines of *excerpt* are consecutive lines of *text*, up to one indentation."""
    wanted = textwrap.dedent(excerpt).splitlines()
    lines = text.splitlines()
    for start in range(len(lines) - len(wanted) + 1):
        window = "\n".join(lines[start : start + len(wanted)])
        if textwrap.dedent(window).splitlines() == wanted:
            return True
    return False


def test_the_guide_quotes_its_examples_verbatim() -> None:
    blocks = quoted_blocks()
    assert len(blocks) >= 10
    for source, excerpt in blocks:
        text = (DOCS / source).read_text(encoding="utf-8")
        assert excerpt.strip(), f"empty quote of {source}"
        assert appears_in(excerpt, text), (
            f"the guide's quote of {source} is not in the file:\n{excerpt}"
        )


def test_appears_in_is_strict() -> None:
    text = "def f():\n    a = 1\n    b = 2\n    return a\n"
    assert appears_in("a = 1\nb = 2\n", text)
    assert appears_in("def f():\n    a = 1\n", text)
    assert not appears_in("a = 1\nreturn a\n", text)  # not consecutive
    assert not appears_in("a = 2\n", text)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_slug() -> None:
    assert slug("TCP servers and clients (§8.2–8.4, §8.10)") == "tcp-servers-and-clients-8284-810"
    assert slug("sync.Mutex, `trio.Lock`") == "syncmutex-triolock"


def test_internal_links_lead_to_headings() -> None:
    anchors: set[str] = set()
    for heading in headings():
        anchor, n = slug(heading), 1
        while anchor in anchors:  # GitHub numbers repeated headings
            anchor, n = f"{slug(heading)}-{n}", n + 1
        anchors.add(anchor)
    links = re.findall(r"\]\(#([^)]+)\)", guide())
    assert len(links) >= 50  # the checklist and the index
    broken = sorted(set(links) - anchors)
    assert not broken, f"links to headings that do not exist: {broken}"


def test_modules_the_guide_names_exist() -> None:
    package = Path(gopl_trio.__file__).parent
    text = guide()
    named = set(re.findall(r"gopl_trio/(\w+)\.py", text))
    named |= set(re.findall(r"gopl_trio\.(\w+)(?![\w$])", text))  # not `memo$m`
    named |= set(re.findall(r"`(_[a-z]+)\.\w+", text))  # `_net.LineReader`, `_cancel.cancel_when`
    missing = sorted(name for name in named if not (package / f"{name}.py").is_file())
    assert not missing, f"the guide names modules that do not exist: {missing}"


def test_names_the_guide_gives_exist() -> None:
    # `_net.accept`, `gopl_trio._stdio.StdinStream`: a renamed helper must not leave the
    # guide describing a function that is gone.
    text = guide()
    pairs = set(re.findall(r"`(_[a-z_]+)\.([A-Za-z_]\w*)", text))
    pairs |= set(re.findall(r"gopl_trio\.(_?[a-z_0-9]+)\.([A-Za-z_]\w*)", text))
    missing = []
    for module_name, attribute in sorted(pairs):
        if (
            attribute == "py"
            or not (Path(gopl_trio.__file__).parent / f"{module_name}.py").is_file()
        ):
            continue  # a file name, or a missing module (reported by the test above)
        module = importlib.import_module(f"gopl_trio.{module_name}")
        if not hasattr(module, attribute):
            missing.append(f"{module_name}.{attribute}")
    assert not missing, f"the guide names functions or classes that do not exist: {missing}"


def test_the_memo_call_counts_quoted_in_the_guide() -> None:
    # The guide quotes one real-clock run of `python -m gopl_trio.memoN`; the call counts in it
    # are deterministic, so they must be what the driver prints on the virtual clock.
    block = guide().split("$ for m in 1 2 3 4 5; do python -m gopl_trio.memo$m | tail -1; done\n")
    quoted = block[1].split("```")[0].splitlines()
    assert len(quoted) == 5
    for n, line in enumerate(quoted, start=1):
        module = importlib.import_module(f"gopl_trio.memo{n}")
        out = io.StringIO()

        async def drive(
            memotest: _memotest.MemoTest = module.memotest, out: io.StringIO = out
        ) -> None:
            await _memotest.report(memotest, _memotest.FakeFetch(0.5), _memotest.KEYS, True, out)

        trio.run(drive, clock=trio.testing.MockClock(autojump_threshold=0))
        counted = out.getvalue().splitlines()[-1]
        assert counted.rsplit(",", 1)[0] == line.rsplit(",", 1)[0], (n, counted, line)
