"""Output files: whole or not at all, never over a database, and a full disk is one line.

- :func:`refuse_database`: ``-o`` (or a file ``notify`` would write) that is the store
  itself, its write-ahead log, or any DuckDB file (by its magic bytes) is refused unless
  forced — writing a report over the store would destroy the census.
- :func:`atomic_file`: the data goes to a temporary file beside the target, is flushed to
  disk and renamed over it; any failure (a full disk, a kill) leaves the target as it was.
- :class:`FileSet`: many files (``notify``) that appear together or not at all: written into
  a staging directory beside the target, which is renamed into place (or, when the target
  exists, atomically exchanged with it, the files already there kept).
- :func:`output_to`: stdout or :func:`atomic_file`, with write errors translated.

Every ``OSError`` of a write becomes an :class:`~mxcensus.errors.OutputError` naming the
path and what was being written (exit 1); a place the user may not write is a UsageError.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from mxcensus.errors import OutputError, UsageError

DUCKDB_MAGIC = b"DUCK"
"""DuckDB's database files carry this at byte 8 (after the header checksum)."""
_REFUSED_BY_USER = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR}


def is_duckdb_file(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return head[8:12] == DUCKDB_MAGIC


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_database(path: Path, store: Path | None, *, force: bool, flag: str = "-o") -> None:
    """UsageError when writing ``path`` would replace the store ``store`` (or its WAL) or any
    other DuckDB file, unless ``force``."""
    if force or not path.exists() or path.is_dir():
        return
    if store is not None and any(
        _same(path, p) for p in (store, store.with_name(store.name + ".wal"))
    ):
        raise UsageError(
            f"{flag} {path}: is the store this command reads ({store}); "
            "refusing to overwrite it (--force to overwrite anyway)"
        )
    if is_duckdb_file(path):
        raise UsageError(
            f"{flag} {path}: is a DuckDB database; refusing to overwrite it "
            "(--force to overwrite anyway)"
        )


def write_error(path: Path | str, what: str, exc: OSError) -> OutputError:
    return OutputError(f"{path}: cannot write the {what}: {exc.strerror or exc}")


def _place_error(path: Path, directory: Path, exc: OSError) -> Exception:
    msg = f"{path}: cannot write in {directory}: {exc.strerror or exc}"
    return UsageError(msg) if exc.errno in _REFUSED_BY_USER else OutputError(msg)


@contextlib.contextmanager
def atomic_file(path: Path, what: str = "output") -> Iterator[BinaryIO]:
    """A binary file that appears at ``path`` only when the block ends without error.

    The data goes to a temporary file in the same directory, is flushed to disk and then
    renamed over ``path`` (atomic on POSIX). On any error the temporary file is removed and
    ``path`` is left as it was; an ``OSError`` of the writing (a full disk) becomes an
    :class:`OutputError` naming ``path`` and ``what``. A temporary file a killed process
    left beside ``path`` is removed by the next write (:func:`sweep`).
    """
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"{path}: directory {directory} does not exist")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory")
    sweep(directory, path.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_part_prefix(path.name), suffix=".part", dir=directory)
    except OSError as exc:
        raise _place_error(path, directory, exc) from exc
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as exc:
            raise write_error(path, what, exc) from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def stdout_sink(what: str = "output") -> Iterator[BinaryIO]:
    """Standard output for binary data; a failed write (a full disk behind a redirection)
    becomes an :class:`OutputError`, and what is still buffered is dropped so that the
    interpreter's exit does not fail on it again. A closed pipe stays BrokenPipeError."""
    out = sys.stdout.buffer
    try:
        yield out
        out.flush()
    except BrokenPipeError:
        _drop_stdout()
        raise
    except OSError as exc:
        _drop_stdout()
        raise write_error("stdout", what, exc) from exc


def _drop_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextlib.contextmanager
def output_to(
    path: Path | None, what: str, *, store: Path | None = None, force: bool = False
) -> Iterator[BinaryIO]:
    """``path`` written atomically (refused when it is a database, see
    :func:`refuse_database`), or stdout when None."""
    if path is None:
        with stdout_sink(what) as out:
            yield out
        return
    refuse_database(path, store, force=force)
    with atomic_file(path, what) as out:
        yield out


def _part_prefix(name: str) -> str:
    return f".{name}.{os.getpid()}."


def sweep(directory: Path, name: str) -> None:
    """Remove what a killed writer of ``name`` left in ``directory``: its temporary file or
    staging directory (``.NAME.PID.….part``) whose process is gone."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    lead = f".{name}."
    for e in entries:
        if not (e.name.startswith(lead) and e.name.endswith(".part")):
            continue
        pid = e.name[len(lead) :].partition(".")[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path)
            else:
                os.unlink(e.path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- a set of files -----------------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directory entries atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False
    where the system or the file system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileSet:
    """Files that appear in ``directory`` together or not at all.

    Each :meth:`file` is written into a staging directory beside ``directory`` (same file
    system). :meth:`commit` publishes them: a ``directory`` that does not exist (or is
    empty) is replaced by the staging directory in one rename; an existing one is exchanged
    with it in one ``renameat2(RENAME_EXCHANGE)`` after the files already there that the
    set does not replace have been hard-linked into it, so they stay. Where the system
    cannot exchange, or the directory holds subdirectories, the files are renamed in one by
    one, in the order written (put the index last). Leaving the block without
    :meth:`commit`, or with an error, removes the staging directory: nothing is published;
    a staging directory a killed process left is removed by the next one (:func:`sweep`).
    """

    def __init__(self, directory: Path, what: str) -> None:
        self.directory = directory
        self.what = what
        self.names: list[str] = []
        self._staging: Path | None = None

    def __enter__(self) -> FileSet:
        d = self.directory
        if d.exists() and not d.is_dir():
            raise UsageError(f"--out {d}: exists and is not a directory")
        parent = d.parent if str(d.parent) else Path(".")
        try:
            parent.mkdir(parents=True, exist_ok=True)
            sweep(parent, d.name)
            staging = parent / f"{_part_prefix(d.name)}{secrets.token_hex(4)}.part"
            staging.mkdir()
        except OSError as exc:
            raise _place_error(d, parent, exc) from exc
        if d.is_dir():  # a new directory has mkdir's mode (the umask's)
            os.chmod(staging, stat.S_IMODE(d.stat().st_mode))
        self._staging = staging
        return self

    def __exit__(self, *exc: object) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def path(self, name: str) -> Path:
        """Where ``name`` will be once published."""
        return self.directory / name

    @contextlib.contextmanager
    def file(self, name: str) -> Iterator[BinaryIO]:
        """A new file ``name`` of the set (a plain name, no directory part)."""
        if self._staging is None:
            raise RuntimeError("FileSet.file outside its block")
        if name in self.names or os.sep in name or name in ("", ".", ".."):
            raise ValueError(f"file set: bad or repeated name {name!r}")
        self.names.append(name)
        try:
            with (self._staging / name).open("xb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise write_error(self.path(name), self.what, exc) from exc

    def commit(self) -> None:
        staging, d = self._staging, self.directory
        if staging is None:
            raise RuntimeError("FileSet.commit outside its block")
        try:
            _fsync_dir(staging)
            if not d.exists() or (d.is_dir() and not any(d.iterdir())):
                os.rename(staging, d)  # over an empty directory too (rename(2))
                self._staging = None
            elif not self._swap(staging, d):
                for name in self.names:
                    os.replace(staging / name, d / name)
            _fsync_dir(d.parent if str(d.parent) else Path("."))
        except OSError as exc:
            raise write_error(d, self.what, exc) from exc

    def _swap(self, staging: Path, d: Path) -> bool:
        """Exchange ``d`` with ``staging`` after linking ``d``'s other files in; False (and
        nothing changed in ``d``) where that cannot be done."""
        entries = list(os.scandir(d))
        if any(e.is_dir(follow_symlinks=False) for e in entries):
            return False
        ours = set(self.names)
        for e in entries:
            if e.name not in ours:
                try:
                    os.link(e.path, staging / e.name, follow_symlinks=False)
                except OSError:
                    return False
        if not _exchange(staging, d):
            return False
        # what appeared in ``d`` meanwhile is now in the old directory (at ``staging``)
        for e in os.scandir(staging):
            if not (d / e.name).exists() and e.name not in ours:
                os.rename(e.path, d / e.name)
        return True
