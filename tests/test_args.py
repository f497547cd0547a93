"""The shared argparse types reject what the programs cannot use."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from gopl_trio import _args


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_positive_seconds_rejects(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="seconds"):
        _args.positive_seconds(value)


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "later"])
def test_seconds_rejects(value: str) -> None:
    with pytest.raises(ValueError):
        _args.seconds(value)


def test_seconds_and_counts_accept_their_range() -> None:
    assert (_args.seconds("0"), _args.positive_seconds("0.5")) == (0.0, 0.5)
    assert (_args.non_negative("0"), _args.positive_int("3"), _args.port("65535")) == (0, 3, 65535)


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (_args.non_negative, "-1"),
        (_args.positive_int, "0"),
        (_args.positive_int, "many"),
        (_args.port, "65536"),
        (_args.port, "-1"),
        (_args.port, "http"),
    ],
)
def test_counts_and_ports_reject(parse: Callable[[str], int], text: str) -> None:
    with pytest.raises((ValueError, argparse.ArgumentTypeError)):
        parse(text)
