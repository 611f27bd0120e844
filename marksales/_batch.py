"""Batch scoring: files of postings (CSV, TSV, JSONL) in, the same rows with predictions out.

Rows stream through in chunks, so memory does not grow with the file; with ``jobs`` > 1 the chunks go
to joblib workers (or, inside ``joblib.parallel_config(backend="dask")``, to a Dask cluster) and come
back in input order. Output goes to a temporary file beside the target that is renamed only when every
row is written: an interrupted or failed run leaves no output file.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import functools
import io
import itertools
import json
import logging
import os
import re
import stat
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ._errors import InputFileError, MarksalesError, describe, type_error
from ._io import (
    DEFAULT_MAX_RECORD_BYTES,
    FORMATS,
    atomic_output,
    check_encoding,
    exit_with_parent,
    format_of,
    has_undecodable,
    is_descriptor_path,
    open_records,
    read_records,
    refuse_non_regular_input,
    same_file_as_stdin,
)
from ._types import DEFAULT_CHUNK_SIZE, Prediction

logger = logging.getLogger(__name__)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ON_ERROR = ("mark", "fail")


@dataclass(frozen=True)
class ScoreSummary:
    """What a ``score_file`` run did: rows read, rows with an error, wall seconds, rows flagged
    ``no_signal``, rows out of scope (0 for a model without a scope head), rows written."""

    rows: int
    errors: int
    seconds: float
    no_signal: int = 0
    out_of_scope: int = 0
    written: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        kept = f" ({self.written} written)" if self.written != self.rows else ""
        return (f"{self.rows} rows{kept}, {self.errors} errors, {self.no_signal} no signal, "
                f"{self.out_of_scope} out of scope, {self.seconds:.1f} s, {self.rows_per_second:,.0f} rows/s")


# -------------------------------------------------------------------- workers


@functools.lru_cache(maxsize=4)
def _worker_model(model_path: str | None) -> Any:
    from ._model import load_model

    return load_model(model_path)


def _model_header(model_path: str | None, jobs: int) -> tuple[tuple[str, ...], bool]:
    """The model's classes and whether it has a scope head. Scoring in this process loads the model; for
    workers the header is enough, so the parent does not hold a copy of a model it never uses."""
    if jobs == 1:
        model = _worker_model(model_path)
        return tuple(model.classes), model.has_scope
    from ._model import read_model_header

    return read_model_header(model_path)


@functools.cache
def _limit_blas_threads() -> None:
    # Workers share the machine's cores already; a BLAS pool per worker would oversubscribe them.
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)


def _score_chunk(model_path: str | None, texts: Sequence[str | None]) -> list[Prediction | None]:
    """Score a chunk. ``None`` texts (rows with an error) stay ``None``."""
    found = iter(_worker_model(model_path).classify([t for t in texts if t is not None]))
    return [None if t is None else next(found) for t in texts]


def _score_chunk_in_worker(model_path: str | None, texts: Sequence[str | None]) -> list[Prediction | None]:
    _limit_blas_threads()
    exit_with_parent()
    return _score_chunk(model_path, texts)


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# With jobs != 1, workers start only once the input has more chunks than this: starting them costs about a
# second, which a few thousand texts never pay back (2,000 short texts took 1.3 s over two workers and
# 0.26 s in one process).
WORKERS_AFTER_CHUNKS = 8


def _parallel_map(model_path: str | None, chunks: Iterable[Sequence[str | None]], jobs: int, *,
                  lazy: bool = False) -> Iterator[list[Prediction | None]]:
    """Score chunks in input order; an input of at most ``WORKERS_AFTER_CHUNKS`` chunks (any input for
    ``jobs == 1``) in this process. ``lazy`` (an iterable read as it goes): the first chunks are scored
    here and yielded at once, and workers take over from the chunk after them. Otherwise (a file, written
    at the end anyway) those chunks are read ahead, and a longer input goes to the workers whole."""
    chunks = iter(chunks)
    if jobs == 1:
        for chunk in chunks:
            yield _score_chunk(model_path, chunk)
        return
    if lazy:
        for chunk in itertools.islice(chunks, WORKERS_AFTER_CHUNKS):
            yield _score_chunk(model_path, chunk)
        following = next(chunks, None)
        if following is None:
            return
        chunks = itertools.chain([following], chunks)
    else:
        held = list(itertools.islice(chunks, WORKERS_AFTER_CHUNKS + 1))
        if len(held) <= WORKERS_AFTER_CHUNKS:  # a short input: the workers' start would never pay
            for chunk in held:
                yield _score_chunk(model_path, chunk)
            return
        chunks = itertools.chain(held, chunks)
    from concurrent.futures.process import BrokenProcessPool

    from joblib import Parallel, delayed

    # No backend is named here, so a caller's parallel_config(backend="dask") sends the chunks to the
    # cluster; each worker caps its BLAS threads itself (_limit_blas_threads).
    parallel = Parallel(n_jobs=jobs, return_as="generator", pre_dispatch="2*n_jobs", batch_size=1)
    try:
        yield from parallel(delayed(_score_chunk_in_worker)(model_path, chunk) for chunk in chunks)
    except BrokenProcessPool as exc:
        raise MarksalesError(
            f"a worker process died while scoring (killed, or out of memory), so the run stopped and wrote no "
            f"output; run it again, with fewer --jobs or a smaller --chunk-size if memory is short "
            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})."
        ) from None


def classify_chunks(texts: Iterable[str], *, model: str | Path | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
                    jobs: int = -1) -> Iterator[Prediction]:
    """Classify any iterable of texts lazily, in order, optionally over ``jobs`` worker processes.

    Parameters
    ----------
    texts : iterable of str
        Any iterable, a pandas Series included (pandas is not needed); read lazily, chunk by chunk.
    model : path or None
        A model path for the workers to load; None for the shipped model.
    chunk_size : int
        Texts per chunk sent to a worker.
    jobs : int
        Worker processes; -1 (the default, as on the command line) uses every core, 1 scores in this
        process. The first ``WORKERS_AFTER_CHUNKS`` chunks (4,000 texts at the default chunk size) are
        scored in this process, each yielded as it is done, so results come as the input is read;
        workers start only for the chunks after them, since starting them costs about a second, which
        shorter inputs never pay back.

    Yields
    ------
    Prediction
        One per text, in input order.
    """
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
        raise type_error("texts", "an iterable of str", texts, "To classify one text, call classify(text).")
    _check_positive("chunk_size", chunk_size)
    jobs = _check_jobs(jobs)
    model_path = None if model is None else str(model)

    def checked() -> Iterator[str]:
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise type_error(f"texts[{i}]", "a str", t, "Convert the item to str or drop it first.")
            yield t

    _model_header(model_path, jobs)  # a broken model fails here, before any text is read
    for result in _parallel_map(model_path, _chunks(checked(), chunk_size), jobs, lazy=True):
        yield from result  # type: ignore[misc]  # no None: every text was checked


def _check_positive(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, not {describe(value)}.")
    return value


def _check_jobs(jobs: Any) -> int:
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs == 0 or jobs < -1:
        raise ValueError(f"jobs must be a positive int or -1 (all cores), not {describe(jobs)}.")
    return os.cpu_count() or 1 if jobs == -1 else jobs


# -------------------------------------------------------------------- reading rows


@dataclass
class _Row:
    line: int
    record: dict[str, Any]
    text: str | None
    error: str


_SURROGATE = re.compile("[\ud800-\udfff]")


def _row_text(record: dict[str, Any], columns: Sequence[str]) -> tuple[str | None, str]:
    parts = []
    for col in columns:
        if col not in record or record[col] is None:
            continue
        value = record[col]
        if not isinstance(value, str):
            return None, f"column {col!r} holds {type(value).__name__}, not text"
        if has_undecodable(value):
            return None, (f"column {col!r} holds bytes that are not valid in the input encoding (or a lone "
                          f"surrogate); if the file is not UTF-8, pass --encoding (latin-1, cp1252, ...)")
        if _SURROGATE.search(value):
            return None, f"column {col!r} holds a lone UTF-16 surrogate (such as \\ud83d), which is not text"
        if value.strip():
            parts.append(value)
    if not parts:
        missing = [c for c in columns if c not in record]
        what = f"missing {', '.join(map(repr, missing))}" if missing else "empty"
        return None, f"no text: {what}"
    return "\n".join(parts), ""


def _read_delimited(stream: IO[str], delimiter: str, columns: Sequence[str], name: str, limit: int
                    ) -> tuple[list[str], Iterator[_Row]]:
    header, records = read_records(stream, "csv", name, limit=limit, delimiter=delimiter)
    missing = [c for c in columns if c not in header]
    if missing:
        hint = ""
        if len(header) == 1 and any(d in header[0] for d in ",;\t|"):
            hint = (" The header is one column: is the delimiter right? Pass --delimiter (e.g. --delimiter ';') "
                    "or --format csv / tsv.")
        raise InputFileError(
            f"{name}: no column {', '.join(map(repr, missing))} in the header; the columns are "
            f"{', '.join(map(repr, header))}. Pass --text-column NAME.{hint}", source=name, kind="missing_column")

    def rows() -> Iterator[_Row]:
        for rec in records:
            if rec.kind == "field_count":  # the quoting or the delimiter is wrong: the rows after it are too
                raise InputFileError(f"{name}:{rec.line}: {rec.problem}.", source=name, line=rec.line,
                                     kind=rec.kind)
            text, error = _row_text(rec.fields, columns)
            if rec.kind == "short" and not error:
                text, error = None, rec.problem
            yield _Row(rec.line, rec.fields, text, error)

    return header, rows()


def _read_jsonl(stream: IO[str], columns: Sequence[str], name: str, limit: int, added: Sequence[str]
                ) -> tuple[list[str], Iterator[_Row]]:
    clash_free = frozenset(added)
    _, records = read_records(stream, "jsonl", name, limit=limit)

    def rows() -> Iterator[_Row]:
        for rec in records:
            if rec.kind == "too_long":  # the next line starts a new record: mark this one and go on
                yield _Row(rec.line, {}, None, f"{rec.problem} (--max-record-mb)")
                continue
            if rec.kind:
                raise InputFileError(f"{name}:{rec.line}: {rec.problem}.", source=name, line=rec.line,
                                     kind=rec.kind)
            if rec.blank:  # kept, so that output rows = input rows
                yield _Row(rec.line, {}, None, "blank line")
                continue
            clash = clash_free.intersection(rec.fields)
            if clash:
                raise InputFileError(
                    f"{name}:{rec.line}: the record already has key(s) {', '.join(map(repr, sorted(clash)))} that "
                    f"scoring adds; pass --prefix (for example --prefix pred_) so nothing is overwritten."
                )
            text, error = _row_text(rec.fields, columns)
            yield _Row(rec.line, rec.fields, text, error)

    return [], rows()


# -------------------------------------------------------------------- writing rows


class _Writer:
    def __init__(self, stream: IO[str], fmt: str, header: list[str], added: list[str], safe_csv: str,
                 delimiter: str | None = None) -> None:
        self.stream = stream
        self.fmt = fmt
        self.added = added
        self.safe_csv = safe_csv
        self.columns = header + added
        if fmt != "jsonl":
            # The writer quotes a field holding any character of its line terminator: with "\r\n" a lone CR
            # inside a cell is quoted too (with "\n" it was not, and readers saw one row more). Each row
            # then ends in "\n" as before.
            self._buffer = io.StringIO()
            self.writer = csv.writer(self._buffer, delimiter="\t" if fmt == "tsv" else (delimiter or ","),
                                     lineterminator="\r\n")
            self._row(self._safe(self.columns, passthrough=True))

    def _row(self, cells: list[Any]) -> None:
        buf = self._buffer
        buf.seek(0)
        buf.truncate()
        self.writer.writerow(cells)
        self.stream.write(buf.getvalue()[:-2] + "\n")

    def _safe(self, cells: list[Any], *, passthrough: bool) -> list[Any]:
        if self.safe_csv == "off" or (passthrough and self.safe_csv != "all"):
            return cells
        return ["'" + c if isinstance(c, str) and c.startswith(_FORMULA_START) else c for c in cells]

    def write(self, record: dict[str, Any], values: list[Any]) -> None:
        if self.fmt == "jsonl":
            obj = dict(record)
            obj.update(zip(self.added, values))
            line = json.dumps(obj, ensure_ascii=False)
            if _SURROGATE.search(line):  # a lone surrogate cannot be UTF-8: keep it as a JSON escape
                line = json.dumps(obj, ensure_ascii=True)
            self.stream.write(line + "\n")
            return
        passthrough = [record.get(c, "") for c in self.columns[: len(self.columns) - len(self.added)]]
        added = ["" if v is None else (("true" if v else "false") if isinstance(v, bool) else v) for v in values]
        self._row(self._safe(passthrough, passthrough=True) + self._safe(added, passthrough=False))


# -------------------------------------------------------------------- the run


def score_file(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    text_columns: Sequence[str] = ("text",),
    id_column: str | None = None,
    file_format: str | None = None,
    output_format: str | None = None,
    encoding: str = "utf-8-sig",
    model: str | Path | None = None,
    jobs: int = -1,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_error: str = "mark",
    safe_csv: str = "off",
    prefix: str = "",
    progress: bool = False,
    only_in_scope: bool = False,
    max_record_mb: float = DEFAULT_MAX_RECORD_BYTES / 2**20,
    delimiter: str | None = None,
    force: bool = False,
) -> ScoreSummary:
    """Score every row of a CSV / TSV / JSONL file and write it with predictions added.

    Parameters
    ----------
    input, output : path or "-"
        Input and output files; "-" for stdin / stdout. The output must not be the input.
    text_columns : sequence of str
        The column(s) holding the text; several are joined with a newline (title and description).
    id_column : str, optional
        A column that must be present (it is passed through like every other column).
    file_format, output_format : {"csv", "tsv", "jsonl"}, optional
        Default: from the file extensions; the output defaults to the input's format.
    encoding : str
        Input and output encoding; the default reads UTF-8 with or without a BOM.
    model : path, optional
        A model to use instead of the shipped one.
    jobs : int
        Worker processes (-1: all cores). Under ``joblib.parallel_config(backend="dask")`` the chunks
        go to the Dask cluster instead.
    chunk_size : int
        Rows per chunk.
    on_error : {"mark", "fail"}
        "mark": a row without usable text gets a message in the ``error`` column and the run goes on;
        "fail": stop at the first such row, naming it, and write nothing.
    safe_csv : {"off", "added", "all"}
        Neutralise cells starting with = + - @ (spreadsheet formulas) by prefixing a quote: in the
        columns marksales adds, or in every column.
    prefix : str
        Put before the added column names (label, score, p_<class>, evidence, no_signal, relevance,
        in_scope, error; the two scope columns only for a model with a scope head).
    progress : bool
        Show a tqdm progress bar on stderr.
    only_in_scope : bool
        Write only the rows the model finds in scope (marketing or sales work) and the rows with an
        error; needs a model with a scope head. Default: every row comes back, and the ``in_scope``
        column marks them.
    max_record_mb : float
        The longest record read, in millions of characters.
    delimiter : str, optional
        The field delimiter of a CSV / TSV input (one character, e.g. ";" for a spreadsheet export in
        many locales); a CSV output uses it too (a TSV output keeps the tab). Default: "," for CSV, tab for
        TSV. Refused for JSONL and Parquet input.
    force : bool
        Replace an existing output file. Without it an existing file is refused before anything is read,
        as ``Model.save`` refuses an existing model (pipes, devices and "-" are always written to).

    Returns
    -------
    ScoreSummary

    Raises
    ------
    InputFileError
        The file is malformed (names the line or column); no output is left behind.
    ValueError
        Bad options, or the output is the input.
    """
    start = time.perf_counter()
    in_path, out_path = os.fspath(input), os.fspath(output)
    if isinstance(text_columns, str):
        text_columns = [text_columns]
    if not text_columns or not all(isinstance(c, str) and c for c in text_columns):
        raise ValueError(f"text_columns must name one or more columns, not {describe(text_columns)}.")
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, not {on_error!r}.")
    if safe_csv not in ("off", "added", "all"):
        raise ValueError(f"safe_csv must be 'off', 'added' or 'all', not {safe_csv!r}.")
    _check_positive("chunk_size", chunk_size)
    jobs = _check_jobs(jobs)
    if isinstance(max_record_mb, bool) or not isinstance(max_record_mb, (int, float)) or not max_record_mb > 0:
        raise ValueError(f"max_record_mb must be a positive number, not {describe(max_record_mb)}.")
    if delimiter is not None and not (isinstance(delimiter, str) and len(delimiter) == 1
                                      and delimiter not in "\"\r\n"):
        raise ValueError(f"delimiter must be one character other than a quote or a line break, not "
                         f"{describe(delimiter)}; e.g. --delimiter ';'.")
    limit = int(max_record_mb * 2**20)
    check_encoding(encoding)
    no_delimiter = ValueError("delimiter applies to CSV / TSV input; JSONL and Parquet have no field delimiter. "
                              "Leave out --delimiter.")
    if _is_parquet(in_path, file_format):
        if delimiter is not None:
            raise no_delimiter
        return _score_parquet(in_path, out_path, text_columns, model=model, jobs=jobs, chunk_size=chunk_size,
                              on_error=on_error, prefix=prefix, progress=progress, only_in_scope=only_in_scope,
                              output_format=output_format, start=start, force=force)
    if in_path == "-" and file_format is None:
        raise ValueError("reading stdin needs format= / --format (csv, tsv or jsonl).")
    fmt = format_of(in_path, file_format)
    if delimiter is not None and fmt == "jsonl":
        raise no_delimiter
    if output_format is not None and output_format not in FORMATS:
        raise ValueError(f"output_format must be one of {', '.join(FORMATS)}, not {output_format!r}; a Parquet "
                         f"output needs a Parquet input.")
    out_fmt = output_format or (fmt if out_path == "-" else _format_or(out_path, fmt))
    if fmt == "jsonl" and out_fmt != "jsonl":
        raise ValueError("JSONL rows can hold different keys, so they are written as JSONL only: name the output "
                         ".jsonl or pass output_format='jsonl'.")
    if in_path != "-" and out_path != "-":
        _refuse_same_file(in_path, out_path)
    if in_path != "-":
        if not Path(in_path).exists():
            raise FileNotFoundError(f"no input file {in_path!r}.")
        refuse_non_regular_input(in_path)
    elif out_path != "-" and same_file_as_stdin(out_path):
        raise ValueError(f"output {out_path!r} is the file standard input reads; choose another output so the "
                         f"input is never overwritten.")
    _refuse_existing(out_path, force)
    model_path = None if model is None else str(model)
    # A broken model fails here, before any output exists; with workers, only the header is read here.
    classes, has_scope = _model_header(model_path, jobs)
    _check_only_in_scope(only_in_scope, has_scope)
    added = [prefix + c for c in _added_names(classes, has_scope)]

    rows_done = errors = no_signal = out_of_scope = written = 0
    with open_records(in_path, encoding) as stream:
        if fmt == "jsonl":
            header, rows = _read_jsonl(stream, text_columns, in_path, limit, added)
        else:
            header, rows = _read_delimited(stream, delimiter or ("\t" if fmt == "tsv" else ","), text_columns,
                                           in_path, limit)
        if id_column is not None and fmt != "jsonl" and id_column not in header:
            raise InputFileError(f"{in_path}: no id column {id_column!r}; the columns are {', '.join(header)}.")
        clash = [c for c in added if c in header]
        if clash:
            raise InputFileError(
                f"{in_path}: the input already has column(s) {', '.join(map(repr, clash))} that scoring adds; "
                f"pass --prefix (for example --prefix pred_) so nothing is overwritten."
            )
        bar = _ByteProgress(stream) if progress else None
        pending: collections.deque[list[_Row]] = collections.deque()

        def texts_of_chunks() -> Iterator[list[str | None]]:
            for chunk in _chunks(rows, chunk_size):
                if on_error == "fail":
                    for r in chunk:
                        if r.error:
                            raise InputFileError(f"{in_path}:{r.line}: {r.error} (--on-error fail).")
                pending.append(chunk)
                yield [r.text for r in chunk]

        out_encoding = encoding.replace("-sig", "") if encoding.endswith("-sig") else encoding
        # CSV passes undecodable input bytes back unchanged (surrogateescape); JSONL output is always valid
        # UTF-8 (the writer escapes what cannot be encoded).
        with atomic_output(out_path, out_encoding, errors="surrogateescape" if out_fmt != "jsonl" else "strict") as out:
            writer = _Writer(out, out_fmt, header if out_fmt != "jsonl" else [], added, safe_csv, delimiter)
            for results in _parallel_map(model_path, texts_of_chunks(), jobs):
                chunk = pending.popleft()
                for row, p in zip(chunk, results):
                    if p is None:
                        values: list[Any] = [None] * (len(added) - 1) + [row.error]
                        errors += 1
                    else:
                        if p.no_signal:
                            no_signal += 1
                        if p.in_scope is False:
                            out_of_scope += 1
                            if only_in_scope:
                                continue
                        values = _added_values(p, has_scope, None if out_fmt == "jsonl" else "")
                    writer.write(row.record, values)
                    written += 1
                rows_done += len(chunk)
                if bar is not None:
                    bar.update(rows_done)
        if bar is not None:
            bar.close()
    return ScoreSummary(rows_done, errors, time.perf_counter() - start, no_signal, out_of_scope, written)


class _ByteProgress:
    """The progress of a CSV / TSV / JSONL file: bytes read against the file's size (percentage, rate and
    ETA) with the rows done beside them; for standard input or a pipe, rows alone."""

    def __init__(self, stream: IO[str]) -> None:
        self._raw: Any = getattr(stream, "buffer", None)
        size = None
        try:
            info = os.fstat(stream.fileno())
            size = info.st_size if stat.S_ISREG(info.st_mode) and info.st_size > 0 else None
        except (OSError, ValueError, io.UnsupportedOperation):
            pass
        if size is None or self._raw is None:
            self._raw = None
            self._bar = _progress_bar(True)
        else:
            from tqdm import tqdm

            self._bar = tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                             dynamic_ncols=True)

    def update(self, rows_done: int) -> None:
        if self._raw is None:
            self._bar.update(rows_done - self._bar.n)
            return
        with contextlib.suppress(OSError, ValueError):
            # the buffered reader's position: read ahead by at most its buffer, so the bar is a little early
            position = min(self._raw.tell(), self._bar.total)
            self._bar.set_postfix_str(f"{rows_done:,} rows", refresh=False)
            self._bar.update(position - self._bar.n)

    def close(self) -> None:
        if self._raw is not None:
            self._bar.update(self._bar.total - self._bar.n)
        self._bar.close()


def _format_or(path: str, default: str) -> str:
    try:
        return format_of(path)
    except ValueError:
        return default


def _refuse_existing(out_path: str, force: bool) -> None:
    """One rule with ``Model.save``: an existing output file is replaced only when asked (pipes, devices and
    standard output are written to as they are)."""
    if not force and out_path != "-" and os.path.isfile(out_path) and not is_descriptor_path(out_path):
        raise FileExistsError(f"output {out_path!r} already exists; pass force=True (--force on the command line) "
                              f"to replace it, or choose another output.")


def _refuse_same_file(in_path: str, out_path: str) -> None:
    a, b = Path(in_path), Path(out_path)
    same = a.resolve() == b.resolve()
    if not same and b.exists():
        with contextlib.suppress(OSError):
            same = os.path.samefile(a, b)
    if same:
        raise ValueError(f"output {out_path!r} is the input file; choose another output so the input is never "
                         f"overwritten.")


def _progress_bar(enabled: bool, total: int | None = None) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(unit=" rows", unit_scale=True, file=sys.stderr, dynamic_ncols=True, total=total)


def score_frame(frame: Any, text_columns: Sequence[str] = ("text",), *, model: str | Path | None = None,
                jobs: int = 1, chunk_size: int = DEFAULT_CHUNK_SIZE, prefix: str = "") -> Any:
    """Score a pandas DataFrame: a copy with the prediction columns added, same index, same order.

    ``jobs`` defaults to 1 here, unlike elsewhere: ``score_frame`` is what Dask maps over partitions, and
    a partition scored inside a Dask worker must not start worker processes of its own. Pass ``jobs=-1``
    for a large frame on one machine.

    The columns are those ``score_file`` adds (``label``, ``score``, ``p_<class>``, ``evidence``,
    ``no_signal``, ``relevance``, ``in_scope``, ``error``, each after ``prefix``). A row whose text cells
    are all empty, missing (NaN, None) or not text gets an ``error`` and no prediction, as in files.
    Several ``text_columns`` are joined with a newline. pandas itself is not imported here: any object
    with pandas' DataFrame interface works, and a Dask DataFrame can map it over its partitions::

        ddf.map_partitions(score_frame, ["title", "description"], meta=score_frame(ddf._meta, [...]))

    Examples
    --------
    >>> import pandas as pd
    >>> out = score_frame(pd.DataFrame({"text": ["SDR", None]}, index=[10, 20]))
    >>> list(out.index), out.loc[10, "label"], out.loc[20, "error"]
    ([10, 20], 'sales', 'no text: empty')
    """
    if isinstance(text_columns, str):
        text_columns = [text_columns]
    missing = [c for c in text_columns if c not in frame.columns]
    if missing:
        raise ValueError(f"text_columns {missing} are not columns of the frame; it has {list(frame.columns)}.")
    jobs = _check_jobs(jobs)
    model_path = None if model is None else str(model)
    classes, has_scope = _model_header(model_path, jobs)
    names = _added_names(classes, has_scope)
    clash = [prefix + n for n in names if prefix + n in frame.columns]
    if clash:
        raise ValueError(f"the frame already has column(s) {clash}; pass prefix= (for example 'pred_').")
    texts: list[str | None] = []
    errors: list[str | None] = []
    for cells in zip(*(frame[c].tolist() for c in text_columns)):
        record = {c: (None if v is None or (isinstance(v, float) and v != v) else v)
                  for c, v in zip(text_columns, cells)}
        text, problem = _row_text(record, text_columns)
        texts.append(text)
        errors.append(problem or None)
    columns: dict[str, list[Any]] = {prefix + n: [] for n in names}
    predictions = (p for chunk in _parallel_map(model_path, _chunks(texts, chunk_size), jobs) for p in chunk)
    for p, row_error in zip(predictions, errors):
        added: list[Any]
        if p is None:
            added = [None] * (len(names) - 1) + [row_error]
        else:
            added = _added_values(p, has_scope, None)
        for n, v in zip(names, added):
            columns[prefix + n].append(v)
    out = frame.copy()
    for name, column in columns.items():
        out[name] = column
    return out


def _is_parquet(path: str, file_format: str | None) -> bool:
    return file_format == "parquet" or (file_format is None and Path(path).suffix.lower() in (".parquet", ".pq"))


def _check_only_in_scope(only_in_scope: bool, has_scope: bool) -> None:
    if only_in_scope and not has_scope:
        raise ValueError("only_in_scope / --in-scope-only needs a model with a scope head; this model has none "
                         "(it was trained without out-of-scope texts).")


def _added_names(classes: Sequence[str], has_scope: bool) -> list[str]:
    """The columns scoring adds, before any prefix; ``_added_values`` fills them in this order."""
    return ["label", "score", *(f"p_{c}" for c in classes), "evidence", "no_signal",
            *(["relevance", "in_scope"] if has_scope else []), "error"]


def _added_values(p: Prediction, has_scope: bool, no_error: Any) -> list[Any]:
    """One prediction's values for ``_added_names``'s columns; ``no_error`` fills the error column."""
    scope = [p.relevance, p.in_scope] if has_scope else []
    return [p.label, p.score, *p.probabilities.values(), p.evidence, p.no_signal, *scope, no_error]


def _score_parquet(in_path: str, out_path: str, text_columns: Sequence[str], *, model: str | Path | None, jobs: int,
                   chunk_size: int, on_error: str, prefix: str, progress: bool, only_in_scope: bool,
                   output_format: str | None, start: float, force: bool) -> ScoreSummary:
    """``score_file`` for Parquet: record batch by record batch (flat memory), every input column and its
    type kept, the prediction columns typed (string, float64, bool), the same error rows and the same
    atomic output as CSV. Needs pyarrow (``pip install 'marksales[parquet]'``)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MarksalesError("reading Parquet needs pyarrow: pip install 'marksales[parquet]'") from None
    if in_path == "-" or out_path == "-":
        raise ValueError("Parquet is read from and written to files, not standard input or output.")
    if output_format not in (None, "parquet") or not _is_parquet(out_path, None):
        raise ValueError(f"a Parquet input is written as Parquet: name the output .parquet, not {out_path!r}.")
    if not Path(in_path).exists():
        raise FileNotFoundError(f"no input file {in_path!r}.")
    refuse_non_regular_input(in_path)
    _refuse_same_file(in_path, out_path)
    _refuse_existing(out_path, force)
    model_path = None if model is None else str(model)
    classes, has_scope = _model_header(model_path, jobs)
    _check_only_in_scope(only_in_scope, has_scope)
    try:
        source = pq.ParquetFile(in_path)
    except (pa.ArrowException, OSError) as exc:
        raise InputFileError(f"{in_path}: not a readable Parquet file ({exc}).") from None
    schema = source.schema_arrow
    missing = [c for c in text_columns if c not in schema.names]
    if missing:
        raise InputFileError(f"{in_path}: no column {', '.join(map(repr, missing))}; the columns are "
                             f"{', '.join(map(repr, schema.names))}. Pass --text-column NAME.")
    names = [prefix + n for n in _added_names(classes, has_scope)]
    clash = [n for n in names if n in schema.names]
    if clash:
        raise InputFileError(f"{in_path}: the input already has column(s) {', '.join(map(repr, clash))} that "
                             f"scoring adds; pass --prefix (for example --prefix pred_).")
    types = {"label": pa.string(), "no_signal": pa.bool_(), "in_scope": pa.bool_(), "error": pa.string()}
    fields = [pa.field(prefix + n, types.get(n, pa.float64())) for n in _added_names(classes, has_scope)]
    out_schema = pa.schema(list(schema) + fields, metadata=schema.metadata)
    bar = _progress_bar(progress, total=source.metadata.num_rows)
    rows_done = errors = no_signal = out_of_scope = written = 0
    pending: collections.deque[tuple[Any, list[str]]] = collections.deque()

    def texts_of_batches() -> Iterator[list[str | None]]:
        line = 0
        # One row group at a time: iter_batches over the whole file reads ahead (a 124 MiB file held 129 MiB
        # of Arrow memory at once; one row group at a time, 33 MiB).
        batches = (b for group in range(source.num_row_groups)
                   for b in source.iter_batches(batch_size=chunk_size, row_groups=[group], use_threads=False))
        for batch in batches:
            records = [dict(zip(text_columns, cells)) for cells in
                       zip(*(batch.column(schema.get_field_index(c)).to_pylist() for c in text_columns))]
            texts, problems = [], []
            for record in records:
                line += 1
                text, problem = _row_text(record, text_columns)
                if problem and on_error == "fail":
                    raise InputFileError(f"{in_path}: row {line}: {problem} (--on-error fail).")
                texts.append(text)
                problems.append(problem)
            pending.append((batch, problems))
            yield texts

    with atomic_output(out_path, "utf-8", binary=True) as out:
        writer = pq.ParquetWriter(out, out_schema)
        try:
            for predictions in _parallel_map(model_path, texts_of_batches(), jobs):
                batch, problems = pending.popleft()
                columns: list[list[Any]] = [[] for _ in fields]
                keep = []
                for p, problem in zip(predictions, problems):
                    if p is None:
                        added: list[Any] = [None] * (len(fields) - 1) + [problem]
                        errors += 1
                    else:
                        no_signal += p.no_signal
                        out_of_scope += p.in_scope is False
                        added = _added_values(p, has_scope, None)
                    keep.append(not (only_in_scope and p is not None and p.in_scope is False))
                    for column, value in zip(columns, added):
                        column.append(value)
                table = pa.Table.from_batches([batch]).select(schema.names)
                for f, column in zip(fields, columns):
                    table = table.append_column(f, pa.array(column, type=f.type))
                if only_in_scope:
                    table = table.filter(pa.array(keep))
                writer.write_table(table)
                written += table.num_rows
                rows_done += batch.num_rows
                if bar is not None:
                    bar.update(batch.num_rows)
        finally:
            writer.close()
    if bar is not None:
        bar.close()
    return ScoreSummary(rows_done, errors, time.perf_counter() - start, no_signal, out_of_scope, written)
