"""The library's exceptions. Each subclasses the builtin a caller would catch anyway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class MarksalesError(Exception):
    """Base class of every error marksales raises on purpose."""


class ModelFileError(MarksalesError, ValueError):
    """A model file is missing, corrupt, truncated, of another format version or inconsistent."""


class UntrustedModelError(MarksalesError, ValueError):
    """A pickle from outside the installed package, refused before anything was unpickled (no ``trusted=True``)."""


@dataclass(frozen=True)
class CorpusProblem:
    """One problem of a labelled corpus, for a script to act on.

    ``kind`` is one of ``unreadable``, ``encoding``, ``empty_file``, ``header``, ``json``, ``not_object``,
    ``field_count``, ``malformed``, ``too_long``, ``missing_column``, ``empty_text``, ``empty_label``,
    ``unknown_label``, ``misspelt_label``, ``case_only_labels``, ``too_few_labels``, ``too_few_examples``,
    ``label_conflict``, ``too_few_groups``. ``source`` is the file (or ``<texts>`` / ``<DataFrame>`` for
    in-memory data) and ``line`` its 1-based line or row, both None for a problem of the whole corpus;
    ``text`` is the text concerned, when there is one.
    """

    kind: str
    message: str
    source: str | None = None
    line: int | None = None
    text: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}: " if self.source and self.line else (f"{self.source}: " if self.source
                                                                                 else "")
        return where + self.message


class CorpusError(MarksalesError, ValueError):
    """A labelled corpus that cannot be trained on: every problem found, with file and line.

    ``problems`` holds them as ``CorpusProblem`` records (kind, message, source, line, text).
    """

    def __init__(self, message: str, problems: tuple[CorpusProblem, ...] | list[CorpusProblem] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[CorpusProblem, ...] = tuple(problems)


class InputFileError(MarksalesError, ValueError):
    """An input file is malformed: the message names the line or the column.

    ``source`` is the file, ``line`` its 1-based line (None when the problem is the whole file or not one
    line's) and ``kind`` what is wrong (such as ``malformed``, ``header``, ``too_long``, ``empty_file``), when
    the reader knew them.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 kind: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.line = line
        self.kind = kind


def describe(value: Any) -> str:
    """A short description of a received value for error messages: its type and a clipped repr."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__qualname__} {text}"


def type_error(argument: str, expected: str, received: Any, fix: str) -> TypeError:
    """A TypeError naming the argument, what was expected, what was received and how to fix it."""
    return TypeError(f"{argument} must be {expected}, not {describe(received)}. {fix}")
