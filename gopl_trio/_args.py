"""The argparse types that the programs' command lines share.

Each takes the text of one argument and returns its value, or raises ``ValueError`` /
``argparse.ArgumentTypeError``, which argparse turns into a usage message and exit status 2.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["non_negative", "port", "positive_int", "positive_seconds", "seconds"]


def non_negative(text: str) -> int:
    """A whole number, 0 or more."""
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def positive_int(text: str) -> int:
    """A whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def seconds(text: str) -> float:
    """A finite, non-negative number of seconds (trio rejects the others)."""
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(text)
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds greater than zero (``--delay``, ``--idle``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text}")
    return value


def port(text: str) -> int:
    """A TCP port number, 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {value}")
    return value
