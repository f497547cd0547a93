"""gopl_trio: the concurrent programs of *The Go Programming Language* (ch. 8-9), in trio.

Each module is one book program, runnable as ``python -m gopl_trio.NAME``; its docstring
names the book section and the Go program it follows. See ``docs/porting-guide.md``.
"""

__version__ = "0.1.0"
