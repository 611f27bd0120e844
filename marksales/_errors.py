"""The library's exceptions. Each subclasses the builtin a caller would catch anyway."""

from __future__ import annotations

from typing import Any


class MarksalesError(Exception):
    """Base class of every error marksales raises on purpose."""


class ModelFileError(MarksalesError, ValueError):
    """A model file is missing, corrupt, truncated, of another format version or inconsistent."""


class UntrustedModelError(MarksalesError, ValueError):
    """A pickle from outside the installed package, refused before anything was unpickled (no ``trusted=True``)."""


class CorpusError(MarksalesError, ValueError):
    """A labelled corpus that cannot be trained on: every problem found, with file and line."""


class InputFileError(MarksalesError, ValueError):
    """An input file to score is malformed: the message names the line or the column."""


def describe(value: Any) -> str:
    """A short description of a received value for error messages: its type and a clipped repr."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__qualname__} {text}"


def type_error(argument: str, expected: str, received: Any, fix: str) -> TypeError:
    """A TypeError naming the argument, what was expected, what was received and how to fix it."""
    return TypeError(f"{argument} must be {expected}, not {describe(received)}. {fix}")
