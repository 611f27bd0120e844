"""Reading and validating labelled corpora (CSV, TSV, JSONL), the shipped corpus included."""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO

from ._errors import CorpusError, CorpusProblem, InputFileError
from ._io import (
    DEFAULT_MAX_RECORD_BYTES,
    format_of,
    has_undecodable,
    open_records,
    read_records,
    refuse_non_regular_input,
)

logger = logging.getLogger(__name__)

MIN_EXAMPLES_PER_LABEL = 5
_MAX_PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class Example:
    """One labelled text, where it came from (file and 1-based line or record number) and its optional
    ``form`` (title / sentence / excerpt / posting, from a ``form`` column when the file has one)."""

    text: str
    label: str
    source: str
    line: int
    form: str | None = None


def shipped_corpus_files() -> list[Path]:
    """The training files of the shipped corpus, in a stable order."""
    root = resources.files("marksales.corpus") / "train"
    files = sorted(str(p) for p in root.iterdir() if p.name.endswith(".jsonl"))
    return [Path(f) for f in files]


def shipped_dev_files() -> list[Path]:
    """The independent dev set that ships with the corpus (never trained on)."""
    root = resources.files("marksales.corpus") / "dev"
    files = sorted(str(p) for p in root.iterdir() if p.name.endswith(".jsonl"))
    return [Path(f) for f in files]


def read_labelled(
    paths: Sequence[str | Path],
    *,
    text_column: str = "text",
    label_column: str = "label",
    file_format: str | None = None,
    encoding: str = "utf-8-sig",
) -> list[Example]:
    """Read labelled texts from CSV / TSV / JSONL files with the streaming record reader
    (``_io.read_records``, as batch scoring does), reporting every malformed row at once.

    Blank lines and rows are skipped. A file the reader cannot go on in (a malformed CSV record, a line over
    the record limit) is reported at that line, and the other files are still read.

    Raises
    ------
    CorpusError
        Naming file and line for each problem: undecodable bytes, invalid JSON, missing columns,
        empty text or label. Nothing is returned when anything is wrong.
    """
    examples: list[Example] = []
    problems: list[CorpusProblem] = []
    for path in paths:
        name = str(path)
        fmt = format_of(name, file_format)
        try:
            refuse_non_regular_input(name)
            stream = open_records(name, encoding)
        except (OSError, ValueError) as exc:
            message = f"cannot read corpus file {name!r}: {getattr(exc, 'strerror', None) or exc}."
            raise CorpusError(message, [CorpusProblem("unreadable", message, name)]) from exc
        with stream:
            try:
                _read_file(stream, fmt, name, text_column, label_column, encoding, examples, problems)
            except InputFileError as exc:  # the reader cannot go on in this file
                where = f"{name}:{exc.line}: " if exc.line else f"{name}: "
                problems.append(CorpusProblem(exc.kind or "malformed", str(exc).removeprefix(where), name, exc.line))
            except OSError as exc:
                message = f"cannot read corpus file {name!r}: {exc.strerror or exc}."
                raise CorpusError(message, [CorpusProblem("unreadable", message, name)]) from exc
    return checked(examples, problems, ", ".join(map(str, paths)))


def _read_file(stream: IO[str], fmt: str, name: str, text_column: str, label_column: str, encoding: str,
               examples: list[Example], problems: list[CorpusProblem]) -> None:
    _, records = read_records(stream, fmt, name, limit=DEFAULT_MAX_RECORD_BYTES)
    missing_rows = 0
    for rec in records:
        if rec.blank:
            continue
        if rec.kind:
            problems.append(CorpusProblem("field_count" if rec.kind == "short" else rec.kind, rec.problem + ".",
                                          name, rec.line))
            continue
        row = rec.fields
        missing = [c for c in (text_column, label_column) if c not in row]
        if missing:
            missing_rows += 1
            if missing_rows == 1:  # one line per file, not one per row
                problems.append(CorpusProblem(
                    "missing_column", f"no column {', '.join(map(repr, missing))} (the columns are "
                                      f"{', '.join(map(repr, row))}); pass --text-column / --label-column.",
                    name, rec.line))
            continue
        cells = (row[text_column], row[label_column], row.get("form"))
        if any(isinstance(c, str) and has_undecodable(c) for c in cells):
            problems.append(CorpusProblem("encoding", f"bytes that are not valid {encoding}. Re-save the file as "
                                                      f"UTF-8, or pass --encoding.", name, rec.line))
            continue
        example = labelled_example(*cells, name, rec.line, problems)
        if example is not None:
            examples.append(example)
    if missing_rows > 1:
        problems.append(CorpusProblem("missing_column", f"{missing_rows - 1} more row(s) lack the same column(s).",
                                      name))


def labelled_example(text: object, label: object, form: object, source: str, line: int,
                     problems: list[CorpusProblem]) -> Example | None:
    """One row as an ``Example``, or None with the problem noted (an empty or non-string text or label)."""
    if not isinstance(text, str) or not text.strip():
        problems.append(CorpusProblem("empty_text", f"the text is empty or not a string ({text!r}).", source, line))
        return None
    if not isinstance(label, str) or not label.strip():
        problems.append(CorpusProblem("empty_label", f"the label is empty or not a string ({label!r}).", source,
                                      line, text))
        return None
    return Example(text=text, label=label.strip(), source=source, line=line,
                   form=form.strip() or None if isinstance(form, str) else None)


def checked(examples: list[Example], problems: list[CorpusProblem], where: str) -> list[Example]:
    """``examples`` when nothing was wrong; else a ``CorpusError`` with every problem."""
    if problems:
        raise CorpusError(_summarise(problems), problems)
    if not examples:
        message = f"no labelled texts found in {where}."
        raise CorpusError(message, [CorpusProblem("empty_file", message, where)])
    return examples


def _summarise(problems: Sequence[CorpusProblem]) -> str:
    shown = [str(p) for p in problems[:_MAX_PROBLEMS_SHOWN]]
    more = len(problems) - len(shown)
    tail = f"\n... and {more} more." if more else ""
    return f"{len(problems)} problem(s) in the corpus:\n" + "\n".join(shown) + tail


_NORMALISE = re.compile(r"[\W_]+")


def near_duplicate_key(text: str) -> str:
    """The key under which near-duplicate texts (case, punctuation, spacing, digits) group together."""
    return _NORMALISE.sub(" ", re.sub(r"\d+", "0", text.lower())).strip()


def near_duplicate_groups(texts: Iterable[str]) -> list[int]:
    """A group id per text; texts with the same ``near_duplicate_key`` share one."""
    ids: dict[str, int] = {}
    return [ids.setdefault(near_duplicate_key(t), len(ids)) for t in texts]


ON_CONFLICT = ("majority", "drop", "error")


def resolve_conflicts(examples: Sequence[Example], policy: str = "majority") -> tuple[list[Example], dict[str, int]]:
    """Texts that carry two or more labels (scraped ads, occupational tables where one duty belongs to two
    occupations), resolved by ``policy``: ``majority`` keeps the rows of the label most of its rows carry
    and drops the text when the top labels tie; ``drop`` drops every row of such a text; ``error`` keeps
    everything, so that ``validate`` names each conflict. Returns the rows kept and the counts of what
    was done (``texts``, ``rows_dropped``), which training logs and stores in the metadata."""
    if policy not in ON_CONFLICT:
        raise ValueError(f"on_conflict must be one of {', '.join(ON_CONFLICT)}, not {policy!r}.")
    by_text: dict[str, Counter[str]] = defaultdict(Counter)
    for e in examples:
        by_text[e.text.strip()][e.label] += 1
    conflicted = {t: c for t, c in by_text.items() if len(c) > 1}
    if policy == "error" or not conflicted:
        return list(examples), {"texts": len(conflicted), "rows_dropped": 0}
    keep_label: dict[str, str | None] = {}
    for text, counts in conflicted.items():
        (top, n), *rest = counts.most_common()
        keep_label[text] = top if policy == "majority" and n > rest[0][1] else None
    kept = [e for e in examples
            if e.text.strip() not in keep_label or keep_label[e.text.strip()] == e.label]
    return kept, {"texts": len(conflicted), "rows_dropped": len(examples) - len(kept)}


def validate(
    examples: Sequence[Example],
    *,
    labels: Sequence[str] | None = None,
    min_per_label: int = MIN_EXAMPLES_PER_LABEL,
) -> list[str]:
    """Check a corpus before training; raise ``CorpusError`` for fatal problems, return warnings.

    Fatal: a label outside ``labels`` (with the nearest allowed label suggested), fewer than two
    labels, a label with fewer than ``min_per_label`` examples, the same text with two labels.
    Warnings: exact duplicate texts with the same label (each is kept once).
    """
    problems: list[CorpusProblem] = []
    warnings: list[str] = []
    # distinct texts per label: duplicates are dropped before training, so they must not fill a quota
    counts = Counter(label for _, label in {(e.text.strip(), e.label) for e in examples})
    if labels is not None:
        allowed = list(labels)
        for e in examples:
            if e.label not in allowed:
                near = difflib.get_close_matches(e.label, allowed, n=1, cutoff=0.6)
                hint = f" Did you mean {near[0]!r}?" if near else f" Allowed: {', '.join(allowed)}."
                problems.append(CorpusProblem("unknown_label", f"unknown label {e.label!r}.{hint}", e.source, e.line,
                                              e.text))
    else:
        # Without a fixed label set, a rare label that is one typo away from a common one is a misspelling.
        for label, n in counts.items():
            others = [k for k in counts if k != label and counts[k] > n]
            near = difflib.get_close_matches(label, others, n=1, cutoff=0.8)
            if near:
                first = next(e for e in examples if e.label == label)
                problems.append(CorpusProblem(
                    "misspelt_label", f"label {label!r} ({n} texts) looks like a misspelling of {near[0]!r} "
                                      f"({counts[near[0]]} texts); fix it or pass the label set explicitly.",
                    first.source, first.line, first.text))
    by_case: dict[str, list[str]] = defaultdict(list)
    for label in sorted(counts):
        by_case[label.casefold()].append(label)
    for spellings in by_case.values():
        if len(spellings) > 1:
            first = next(e for e in examples if e.label == spellings[-1])
            problems.append(CorpusProblem(
                "case_only_labels", f"labels {', '.join(map(repr, spellings))} differ only by case; use one "
                                    f"spelling (or pass the label set explicitly).", first.source, first.line,
                first.text))
    if len(counts) < 2:
        problems.append(CorpusProblem("too_few_labels",
                                      f"a classifier needs two or more labels; the corpus has {sorted(counts)}."))
    for label, n in sorted(counts.items()):
        if n < min_per_label:
            first = next(e for e in examples if e.label == label)
            problems.append(CorpusProblem(
                "too_few_examples", f"label {label!r} has {n} example(s); at least {min_per_label} are needed.",
                first.source, first.line, first.text))
    by_text: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        by_text[e.text.strip()].append(e)
    for same in by_text.values():
        if len(same) < 2:
            continue
        if len({e.label for e in same}) > 1:
            where = ", ".join(f"{e.source}:{e.line} ({e.label})" for e in same[:4])
            shown = " ".join(same[0].text.split())
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            problems.append(CorpusProblem(
                "label_conflict", f"the same text carries two labels ({shown!r}): {where}; pass --on-conflict "
                                  f"majority or drop to resolve such texts.", same[0].source, same[0].line,
                same[0].text))
        else:
            where = ", ".join(f"{e.source}:{e.line}" for e in same[:4])
            warnings.append(f"duplicate text ({len(same)} copies) kept once: {where}.")
    if problems:
        raise CorpusError(_summarise(problems), problems)
    if warnings:
        shown = "; ".join(w.split(": ", 1)[1].rstrip(".") for w in warnings[:3])
        logger.warning("%d duplicate text(s) kept once each (e.g. %s)", len(warnings), shown)
    return warnings


def deduplicate(examples: Sequence[Example]) -> list[Example]:
    """Exact duplicates (after stripping) kept once, first occurrence first."""
    seen: set[str] = set()
    out = []
    for e in examples:
        key = e.text.strip()
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def corpus_sha256(examples: Sequence[Example]) -> str:
    """A hash of the (text, label) pairs in order: the identity of a training corpus."""
    h = hashlib.sha256()
    for e in examples:
        h.update(json.dumps([e.text, e.label], ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()
