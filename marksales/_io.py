"""File plumbing shared by corpus reading, batch scoring and saving: formats, bounded lines, atomic output.

An output is written to a hidden partial file beside the target (named with the writer's process id)
and renamed over the target only when complete, so an interrupted, killed or failed run leaves either
the old file or nothing; a later run removes the partial files of writers that are gone. Targets that
are not regular files (``/dev/null``, a FIFO, a terminal) are written through directly: renaming over
them would replace the node. A new file gets the mode the umask gives; an existing file keeps its own.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

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
