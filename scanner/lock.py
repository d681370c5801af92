"""One scan per database: an OS lock on the sidecar file `DB.lock`, holding a note of who scans.

The lock is `fcntl.flock` on `DB.lock`, so the kernel releases it when its holder dies, even by
SIGKILL; only the note (JSON: pid, host, scan id, start, command line) can outlive it, and the
next acquirer clears such a stale note and says so. The file itself is kept (empty when no scan
runs): deleting it would let two processes lock two different files of the same name.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shlex
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

LOCK_SUFFIX = ".lock"
# How long a refused acquirer re-reads an empty note: a new holder writes its note just after
# taking the lock, and `lock_holder` probes hold it for an instant.
NOTE_GRACE_SECONDS = 1.0


def lock_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}{LOCK_SUFFIX}")


def utc_timestamp() -> str:
    """Now, as the lock note and the scan log write it: 2026-12-02T07:00:00Z."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_note(raw: bytes) -> dict | None:
    if not raw.strip():
        return None
    try:
        note = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {"unreadable": raw[:200].decode("utf-8", "replace")}
    return note if isinstance(note, dict) else {"unreadable": str(note)[:200]}


def read_note(db_path: str | Path) -> dict | None:
    """The note in `DB.lock` (None when absent or empty), whether or not its writer still runs."""
    try:
        return _parse_note(lock_path(db_path).read_bytes())
    except FileNotFoundError:
        return None


def lock_holder(db_path: str | Path) -> dict | None:
    """The note of the process holding the database's lock now ({} if it wrote none yet),
    or None when no process holds it. Creates nothing."""
    try:
        fd = os.open(lock_path(db_path), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return read_note(db_path) or {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def pid_alive(pid: int | None, host: str | None = None) -> bool | None:
    """Whether process `pid` exists; None when it cannot be told (another host, no pid)."""
    if not isinstance(pid, int) or (host and host != socket.gethostname()):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def describe_holder(note: dict | None, *, holding: bool = True) -> str:
    """'scan 12 (pid 4711, started 2026-12-02T07:00:00Z)', from a lock note; `holding` says
    the note's writer (or a child that inherited the lock) holds the lock now."""
    if not note or "pid" not in note:
        return "another process (it left no note)" if holding else "an unreadable note"
    who = f"scan {note['scan_id']}" if note.get("scan_id") is not None else "a scan starting"
    pid = f"pid {note['pid']}"
    if note.get("host") and note["host"] != socket.gethostname():
        pid += f" on {note['host']}"
    elif holding and pid_alive(note.get("pid"), note.get("host")) is False:
        pid += " gone, a child process still holds the lock"
    started = f", started {note['started_at']}" if note.get("started_at") else ""
    return f"{who} ({pid}{started})"


class ScanLockHeld(Exception):
    """Another scan holds the database; str() is one line naming it."""

    def __init__(self, db_path: str | Path, holder: dict | None):
        super().__init__(db_path, holder)
        self.db_path = str(db_path)
        self.holder = holder or {}

    def describe(self) -> str:
        """'results.db is held by scan 12 (...)', without the hint (e.g. to log while waiting)."""
        return f"{self.db_path} is held by {describe_holder(self.holder)}"

    def __str__(self) -> str:
        return f"{self.describe()}; use --wait to wait for it"


class ScanLockTimeout(ScanLockHeld):
    """Waited `waited` seconds and the other scan still holds the database."""

    def __init__(self, db_path: str | Path, holder: dict | None, waited: float):
        super().__init__(db_path, holder)
        self.waited = waited

    def __str__(self) -> str:
        waited = f"{self.waited:.1f}" if self.waited < 10 else f"{self.waited:.0f}"
        return f"{self.db_path} is still held by {describe_holder(self.holder)} after waiting {waited} s"


class ScanLock:
    """`with ScanLock(db_path) as lock:` holds the database for one scan, or raises ScanLockHeld.

    wait=True polls every `poll_interval` seconds until the lock is free, or raises
    ScanLockTimeout after `timeout` seconds (None: wait for ever); `on_wait(held)` is called
    once when waiting starts. After acquiring, `stale_note` is the note a dead holder left
    (None if there was none) and `stale_message` a line saying it was cleared.
    """

    def __init__(self, db_path: str | Path, *, wait: bool = False, timeout: float | None = None,
                 poll_interval: float = 1.0, command: list[str] | None = None,
                 on_wait: Callable[[ScanLockHeld], None] | None = None):
        self.db_path = str(db_path)
        self.path = lock_path(db_path)
        self.wait = wait
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.on_wait = on_wait
        self.note = {
            "pid": os.getpid(), "host": socket.gethostname(), "scan_id": None,
            "started_at": None, "command": shlex.join(command if command is not None else sys.argv),
            "database": os.path.abspath(self.db_path),
        }
        self.stale_note: dict | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def fileno(self) -> int:
        """The locked descriptor: pass it to worker processes (`Popen(pass_fds=...)`) and the
        lock stays held until the last of them exits, even if this process is killed."""
        if self._fd is None:
            raise RuntimeError("the scan lock is not held")
        return self._fd

    def acquire(self) -> ScanLock:
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already locked by this ScanLock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._lock(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.stale_note = _parse_note(os.pread(fd, 1 << 16, 0))
        self.note["started_at"] = utc_timestamp()
        self._write_note()
        return self

    def _lock(self, fd: int) -> None:
        started = time.monotonic()
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            holder = read_note(self.db_path)
            waited = time.monotonic() - started
            if not self.wait:
                if holder is None and waited < NOTE_GRACE_SECONDS:
                    time.sleep(0.05)
                    continue
                raise ScanLockHeld(self.db_path, holder)
            if self.timeout is not None and waited >= self.timeout:
                raise ScanLockTimeout(self.db_path, holder, waited)
            if not waiting:
                waiting = True
                if self.on_wait:
                    self.on_wait(ScanLockHeld(self.db_path, holder))
            pause = self.poll_interval
            if self.timeout is not None:
                pause = max(0.0, min(pause, self.timeout - waited))
            time.sleep(pause)

    def set_scan_id(self, scan_id: int) -> None:
        """Name the scan in the note once its row exists (a second scan's refusal cites it)."""
        self.note["scan_id"] = scan_id
        if self._fd is not None:
            self._write_note()

    def _write_note(self) -> None:
        data = json.dumps(self.note, sort_keys=True).encode("utf-8") + b"\n"
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    @property
    def stale_message(self) -> str | None:
        """One line for the log when a dead holder's note was cleared, else None."""
        if self.stale_note is None:
            return None
        note = self.stale_note
        alive = pid_alive(note.get("pid"), note.get("host"))
        why = {False: "its process is gone", True: "its process no longer holds the lock",
               None: "no process holds the lock"}[alive]
        return f"cleared a stale lock of {self.db_path} left by {describe_holder(note, holding=False)}: {why}"

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ScanLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

