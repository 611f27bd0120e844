"""File plumbing shared by corpus reading, evaluation, batch scoring and saving: formats, one streaming
record reader, bounded lines, atomic output.

An output is written to a hidden partial file beside the target (named with the writer's process id)
and renamed over the target only when complete, so an interrupted, killed or failed run leaves either
the old file or nothing; a later run removes the partial files of writers that are gone. Targets that
are not regular files (``/dev/null``, a FIFO, a terminal) are written through directly: renaming over
them would replace the node. A new file gets the mode the umask gives; an existing file keeps its own.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import secrets
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ._errors import InputFileError

FORMATS = ("csv", "tsv", "jsonl")
PARTIAL_SUFFIX = ".marksales-partial"
# One record (a CSV row or a JSON line) larger than this is no posting: a default that no real ad reaches.
DEFAULT_MAX_RECORD_BYTES = 10 * 2**20


def format_of(path: str | Path, explicit: str | None = None) -> str:
    """The file format from ``explicit`` or the extension: 'csv', 'tsv' or 'jsonl'."""
    if explicit is not None:
        if explicit not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {explicit!r}.")
        return explicit
    suffix = Path(str(path)).suffix.lower()
    mapping = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
    if suffix not in mapping:
        raise ValueError(
            f"cannot tell the format of {str(path)!r} from its extension {suffix!r}: "
            f"name it .csv, .tsv or .jsonl, or pass format= / --format ({', '.join(FORMATS)})."
        )
    return mapping[suffix]


def check_encoding(encoding: str) -> str:
    """``encoding`` if Python knows it; otherwise a ValueError naming it (not a LookupError traceback)."""
    import codecs

    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}; use a name Python knows, such as utf-8, latin-1 or "
                         f"cp1252.") from None
    return encoding


class LongLine(str):
    """A line longer than the record limit, cut: its start only, and how many characters it really had."""

    length: int


def bounded_lines(stream: IO[str], limit_chars: int) -> Iterator[str]:
    """The lines of ``stream`` with their endings, as iteration gives them, but never holding more than
    ``limit_chars`` of one line: a longer line is read to its end in pieces and yielded as a ``LongLine``
    holding its first characters. Memory stays flat on a file with no newline at all."""
    while True:
        line = stream.readline(limit_chars + 1)
        if not line:
            return
        if len(line) <= limit_chars or line.endswith("\n"):
            yield line
            continue
        total = len(line)
        while True:
            piece = stream.readline(1 << 20)
            total += len(piece)
            if not piece or piece.endswith("\n"):
                break
        cut = LongLine(line[:200])
        cut.length = total
        yield cut


# What surrogateescape makes of a byte that is not valid in the encoding: U+DC80..U+DCFF.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def has_undecodable(s: str) -> bool:
    """Whether ``s``, read with ``errors="surrogateescape"``, holds bytes that were not valid in the encoding."""
    return _UNDECODABLE.search(s) is not None


def open_records(path: str, encoding: str) -> IO[str]:
    """``path`` (``-``: standard input) opened for ``read_records``. Undecodable bytes become surrogates
    (``has_undecodable``) rather than an error, so a reader can name the record that holds them and a
    pass-through column is written back byte for byte."""
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding=encoding, errors="surrogateescape", newline="")
    return open(path, encoding=encoding, errors="surrogateescape", newline="")


@dataclass(frozen=True)
class Record:
    """One record of a CSV, TSV or JSONL file.

    ``line`` is its 1-based line (for CSV, where the record ends, as ``csv.reader`` counts); ``fields`` its
    cells by column name (a JSON object as it is). ``blank`` marks a blank line (JSONL) or a row with no
    non-blank cell (CSV). ``kind`` and ``problem`` say why the record cannot be used as it is, when it
    cannot: ``too_long`` (JSONL: a line over the limit, not held in memory), ``json`` and ``not_object``
    (JSONL), ``field_count`` (more cells than the header) and ``short`` (fewer: ``fields`` has the cells
    there are). The caller decides which of these stop a run and which mark a row.
    """

    line: int
    fields: dict[str, Any]
    blank: bool = False
    kind: str = ""
    problem: str = ""


def _stop(name: str, line: int | None, kind: str, message: str) -> InputFileError:
    return InputFileError(f"{name}:{line}: {message}" if line else f"{name}: {message}", source=name, line=line,
                          kind=kind)


def read_records(stream: IO[str], fmt: str, name: str, *, limit: int, delimiter: str | None = None
                 ) -> tuple[list[str], Iterator[Record]]:
    """The header (``[]`` for JSONL) and a lazy iterator over the records of ``stream`` (from
    ``open_records``), in file order, never holding more than ``limit`` characters of one line.

    Raises ``InputFileError`` (with ``source``, ``line`` and ``kind``) where reading cannot go on: an empty
    CSV, a malformed or duplicated header, a malformed CSV record (quoting cannot be resynchronised after
    it), a CSV line or cell over the limit. Everything a later record can survive is a ``Record.problem``.
    """
    if fmt == "jsonl":
        return [], _jsonl_records(stream, name, limit)
    return _delimited_records(stream, delimiter or ("\t" if fmt == "tsv" else ","), name, limit)


def _jsonl_records(stream: IO[str], name: str, limit: int) -> Iterator[Record]:
    # Lines end at "\n", "\r" or "\r\n" only (TextIOWrapper.readline): U+2028 and U+0085, which
    # json.dumps(ensure_ascii=False) writes unescaped inside strings, do not end one.
    for line_no, line in enumerate(bounded_lines(stream, limit), start=1):
        if isinstance(line, LongLine):
            yield Record(line_no, {}, kind="too_long",
                         problem=f"a record of {line.length:,} characters, more than the limit of {limit:,}")
            continue
        if line_no == 1 and line.startswith("\ufeff"):
            line = line[1:]
        if not line.strip():
            yield Record(line_no, {}, blank=True)
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Record(line_no, {}, kind="json", problem=f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        except RecursionError:
            yield Record(line_no, {}, kind="json", problem="JSON nested too deeply to be a record")
            continue
        if not isinstance(obj, dict):
            yield Record(line_no, {}, kind="not_object",
                         problem=f"expected a JSON object per line, found {type(obj).__name__}")
            continue
        yield Record(line_no, obj)


def _delimited_records(stream: IO[str], delimiter: str, name: str, limit: int
                       ) -> tuple[list[str], Iterator[Record]]:
    csv.field_size_limit(limit)
    kind = "TSV" if delimiter == "\t" else "CSV"

    def lines() -> Iterator[str]:
        # A CSV record cannot be resynchronised after a cut line, so an over-long one stops the reading.
        for n, line in enumerate(bounded_lines(stream, limit), start=1):
            if isinstance(line, LongLine):
                raise _stop(name, n, "too_long", f"a record of {line.length:,} characters, more than the limit "
                                                 f"of {limit:,}; no posting is that long. Raise it with "
                                                 f"--max-record-mb if the file is right.")
            yield line

    reader = csv.reader(lines(), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise _stop(name, None, "empty_file", "the file is empty; expected a header row naming the columns.") from None
    except csv.Error as exc:
        raise _stop(name, 1, "header", f"malformed {kind} header ({exc}).") from None
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    if len(set(header)) != len(header):
        dup = sorted({c for c in header if header.count(c) > 1})
        raise _stop(name, 1, "header", f"duplicate column names {dup}; rename them so every column is kept.")

    def records() -> Iterator[Record]:
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if "field larger than field limit" in str(exc):
                    raise _stop(name, reader.line_num, "too_long",
                                f"a cell longer than the limit of {limit:,} characters (an unclosed quote?); "
                                f"raise it with --max-record-mb if the file is right.") from None
                raise _stop(name, reader.line_num, "malformed",
                            f"malformed {kind} ({exc}); check for an unclosed quote.") from None
            line = reader.line_num
            blank = not any(cell.strip() for cell in cells)
            fields = dict(zip(header, cells))
            if len(cells) > len(header):
                yield Record(line, fields, blank, "field_count",
                             f"{len(cells)} fields where the header has {len(header)}; check the quoting and the "
                             f"delimiter ({delimiter!r})")
            elif len(cells) < len(header):
                yield Record(line, fields, blank, "short", f"{len(header) - len(cells)} missing cell(s)")
            else:
                yield Record(line, fields, blank)

    return header, records()


def refuse_non_regular_input(path: str) -> None:
    """Input must be a regular file, a FIFO or standard input: ``/dev/zero`` as a CSV would never end."""
    with contextlib.suppress(OSError):
        mode = os.stat(path).st_mode
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISDIR(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "a device"
            raise ValueError(f"input {path!r} is {kind}, not a file; pass a CSV, TSV or JSONL file (or - for "
                             f"standard input).")


def same_file_as_stdin(path: str) -> bool:
    """Whether ``path`` is the file standard input reads from (``score - -o in.csv < in.csv``)."""
    try:
        a, b = os.fstat(sys.stdin.fileno()), os.stat(path)
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISREG(a.st_mode) and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _writer_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(directory: Path, name: str) -> None:
    """Remove ``name``'s partial files in ``directory`` whose writing process no longer exists."""
    pattern = re.compile(re.escape(f".{name}.") + r"(\d+)\.[^/]*" + re.escape(PARTIAL_SUFFIX) + "$")
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            m = pattern.match(entry.name)
            if m and int(m.group(1)) != os.getpid() and not _writer_alive(int(m.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_descriptor_path(path: str) -> bool:
    """``/proc/self/fd/N``, ``/dev/fd/N``, ``/dev/stdout`` and the like: an already open file, written to as it
    is (never replaced by a rename), whatever it points to."""
    return os.path.abspath(path).startswith(("/proc/self/fd/", "/dev/fd/", "/dev/std"))


@contextlib.contextmanager
def atomic_output(path: str, encoding: str, *, errors: str = "strict", binary: bool = False) -> Iterator[IO[Any]]:
    """A text stream (``binary``: a byte stream) that becomes ``path`` only when the block finishes without an
    exception.

    ``-`` is standard output; a target that exists and is not a regular file, or is an open descriptor's
    path (``is_descriptor_path``), is written through.
    """
    if path == "-":
        out = io.TextIOWrapper(sys.stdout.buffer, encoding=encoding, errors=errors, newline="", write_through=False)
        try:
            yield out
        finally:
            with contextlib.suppress(ValueError, BrokenPipeError):
                out.flush()
            out.detach()
        return
    if path.endswith(("/", os.sep)) and not os.path.isdir(path):
        raise ValueError(f"output {path!r} ends with a path separator but is not a folder; name a file.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"output {path!r} is a folder; name a file inside it.")
    try:
        mode: int | None = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    if mode is not None and (not stat.S_ISREG(mode) or is_descriptor_path(path)):  # /dev/null, a FIFO, fd/1
        with (open(path, "wb") if binary else open(path, "w", encoding=encoding, errors=errors,
                                                      newline="")) as through:
            yield through
        return
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"the output folder {str(directory)!r} does not exist; create it first.")
    remove_stale_partials(directory, target.name)
    try:
        keep_mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        keep_mode = None
    # The partial's name is known before the file exists, so an interrupt at any point after its creation
    # (even before os.open returns) finds it to remove; mkstemp left a window where it did not.
    tmp = str(directory / f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}{PARTIAL_SUFFIX}")
    fd = -1
    wrapped = False  # once the stream owns fd, closing the stream closes it
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        os.fchmod(fd, keep_mode if keep_mode is not None else 0o666 & ~_umask())
        wrapped = True
        with (open(fd, "wb") if binary else open(fd, "w", encoding=encoding, errors=errors, newline="")) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, target)
    except FileExistsError:
        if fd == -1:  # another writer's file by that name: never ours to remove
            raise
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    except BaseException:
        if fd != -1 and not wrapped:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


_watching = False


def exit_with_parent(interval: float = 1.0) -> None:
    """In a worker process: exit when the process that started it is gone (killed with SIGKILL, say), so no
    worker outlives its run. Once per process; a daemon thread checks the parent id every ``interval``."""
    global _watching
    if _watching:
        return
    _watching = True
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="marksales-exit-with-parent", daemon=True).start()
