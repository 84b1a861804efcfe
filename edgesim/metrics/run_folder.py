"""A run folder that is complete or absent.

Files were written atomically one at a time, but not the folder: a rerun killed while saving
left one seed's summary beside another seed's tables, two runs into one ``-o`` mixed their
files, and an old run's ``requests.parquet`` stayed beside a training run's new tables. So a run
is written into a hidden sibling staging folder and renamed into place at the end (an existing
folder is replaced only when asked, and only once the new one is whole), a lock keeps a second
writer out, and what an interrupted run left behind is cleaned by the next run to that place.

Everything that can be checked about the place is checked in :func:`reserve`, before the
simulation starts, so a bad ``-o`` costs nothing; an I/O error while saving (a full disk) keeps
the results by saving them again to a rescue folder and saying where.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgesim.errors import UserError

__all__ = ["RunFolder", "reserve", "default_name"]

_STAGING = ".staging-"
_OLD = ".replaced-"


def default_name(name: str) -> str:
    """A scenario name made safe as one folder name: ``../../x`` once wrote outside ``runs/``."""
    safe = "".join(c if (c.isalnum() or c in "-_.") else "-" for c in name).strip(".-")
    return safe or "run"


@dataclass
class RunFolder:
    """A reserved run folder: write into ``staging``, then :meth:`commit`."""

    target: Path
    staging: Path
    force: bool
    _lock_fd: int

    def save(self, write: Callable[[Path], object]) -> Path:
        """``write(folder)`` into the staging folder and commit; on an I/O error, into a rescue
        folder whose path the raised :class:`UserError` names (the results are kept)."""
        try:
            write(self.staging)
        except OSError as exc:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.release()
            rescue = Path(tempfile.mkdtemp(prefix=f"edgesim-rescue-{self.target.name}-"))
            try:
                write(rescue)
            except OSError as again:
                shutil.rmtree(rescue, ignore_errors=True)
                raise UserError(f"cannot write the run folder {self.target} "
                                f"({exc.strerror or exc}), nor a rescue copy under "
                                f"{rescue.parent} ({again.strerror or again}); "
                                "the results are lost") from None
            raise UserError(f"cannot write the run folder {self.target} ({exc.strerror or exc}); "
                            f"the results were saved to {rescue} instead") from None
        return self.commit()

    def commit(self) -> Path:
        """Rename the staging folder into place (replacing an old folder only with ``force``)."""
        try:
            old = None
            if self.target.is_dir() and not any(self.target.iterdir()):
                self.target.rmdir()  # an empty folder (made for the run) is not a run to keep
            if self.target.exists():
                if not self.force:   # appeared while we ran: never overwrite without asking
                    raise UserError(f"{self.target} appeared while the run was going; the run "
                                    f"is in {self.staging} (rename it, or rerun with --force)")
                old = self.target.with_name(f".{self.target.name}{_OLD}{secrets.token_hex(4)}")
                os.replace(self.target, old)
            os.replace(self.staging, self.target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            return self.target
        finally:
            self.release()

    def release(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)      # closing drops the flock
            self._lock_fd = -1
            with contextlib.suppress(OSError):   # another writer may hold it by now
                _lock_path(self.target).unlink()

    def abandon(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        self.release()


def _lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


def _check_name(target: Path) -> None:
    text = str(target)
    if "\x00" in text:
        raise UserError(f"the run folder {text!r} contains a NUL byte, which no file system "
                        "accepts in a name")
    for part in target.parts:
        if len(os.fsencode(part)) > 255:
            raise UserError(f"the run folder name {part[:40]!r}... is {len(part)} characters "
                            "long; file systems accept 255 bytes per name")


def _make_parent(target: Path) -> None:
    parent = target.parent
    for above in [parent, *parent.parents]:
        if above.exists():
            if not above.is_dir():
                raise UserError(f"cannot create the run folder {target}: {above} is a file, "
                                "not a folder")
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the folder {parent} for the run "
                        f"({exc.strerror or exc})") from None


def _held(lock: Path) -> bool:
    import fcntl
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _clean_leftovers(target: Path) -> None:
    """Staging and replaced folders that killed runs left beside ``target``: this target's (we
    hold its lock) and those of any other target in the same folder that nobody is writing."""
    for marker in (_STAGING, _OLD):
        for left in target.parent.glob(f".*{marker}*"):
            owner = left.name[1:left.name.rindex(marker)]
            if owner == target.name or not _held(target.with_name(f".{owner}.lock")):
                shutil.rmtree(left, ignore_errors=True)


def reserve(target: str | os.PathLike, force: bool = False) -> RunFolder:
    """Check and lock the place for a run folder, before any simulation time is spent.

    Raises :class:`UserError` (exit 2 at the command line) when the place cannot take a run:
    an existing folder without ``force``, a file in the way, a parent that cannot be created or
    written, a name no file system accepts, or another run writing to the same place.
    """
    target = Path(target)
    _check_name(target)
    if target.exists():
        if not target.is_dir():
            raise UserError(f"{target} is a file, not a run folder")
        if not force and any(target.iterdir()):
            raise UserError(f"the run folder {target} exists: pass --force to replace it "
                            "(atomically, once the new run is saved), or choose another -o")
    _make_parent(target)
    import fcntl

    lock = _lock_path(target)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(f"cannot write in {target.parent} ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise UserError(f"another edgesim run is writing to {target} (lock {lock}); "
                            "wait for it or choose another -o") from None
        raise
    _clean_leftovers(target)
    staging = target.with_name(f".{target.name}{_STAGING}{secrets.token_hex(4)}")
    try:
        staging.mkdir()
        probe = staging / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        os.close(fd)
        shutil.rmtree(staging, ignore_errors=True)
        raise UserError(f"cannot write in {target.parent} ({exc.strerror or exc})") from None
    return RunFolder(target, staging, force, fd)
