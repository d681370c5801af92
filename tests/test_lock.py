"""One scan per database: the lock on DB.lock against real second processes, killed holders
and waiting; the exit codes a scheduler reads, each documented."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from helpers import ROOT, subprocess_env
from scanner.exitcodes import EXIT_CODE_MEANINGS, ExitCode, scan_exit_code
from scanner.lock import (
    ScanLock, ScanLockHeld, ScanLockTimeout, lock_holder, lock_path, pid_alive, read_note,
)

# Holds the lock as scan 12 until the test closes its stdin (or kills it).
HOLDER = """
import sys
from scanner.lock import ScanLock
lock = ScanLock(sys.argv[1], command=["scanner", "scan", "t.yaml"]).acquire()
lock.set_scan_id(12)
print("locked", flush=True)
sys.stdin.read()
lock.release()
"""

# Holds the lock and hands it to a child process that lives until stdin closes (as a scan's
# worker would); prints the child's pid, then sleeps until killed.
HOLDER_WITH_CHILD = """
import subprocess, sys, time
from scanner.lock import ScanLock
lock = ScanLock(sys.argv[1]).acquire()
lock.set_scan_id(7)
child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                         pass_fds=[lock.fileno()])
print(child.pid, flush=True)
time.sleep(600)
"""


def start_holder(db_path, script=HOLDER) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", script, str(db_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=subprocess_env(), cwd=ROOT)
    line = proc.stdout.readline().strip()  # the holder has the lock once it has printed
    assert line, f"holder exited {proc.wait()} before taking the lock"
    return proc, line


def end_holder(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_note_names_the_scan_and_is_emptied_on_release(db_path):
    with ScanLock(db_path, command=["scanner", "scan", "targets.yaml"]) as lock:
        note = json.loads(lock_path(db_path).read_text())
        assert note["pid"] == os.getpid() and note["scan_id"] is None
        assert note["command"] == "scanner scan targets.yaml"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", note["started_at"])
        lock.set_scan_id(9)
        assert lock_holder(db_path)["scan_id"] == 9
        assert lock.stale_note is None
    assert lock_holder(db_path) is None
    assert read_note(db_path) is None  # released cleanly: nothing stale is left behind
    with ScanLock(db_path) as again:
        assert again.stale_note is None


def test_two_locks_in_one_process_exclude_each_other(db_path):
    with ScanLock(db_path):
        with pytest.raises(ScanLockHeld):
            ScanLock(db_path).acquire()


def test_second_process_is_refused_with_one_line_naming_the_running_scan(db_path):
    holder, _ = start_holder(db_path)
    try:
        with pytest.raises(ScanLockHeld) as refused:
            ScanLock(db_path).acquire()
        message = str(refused.value)
        assert "\n" not in message
        assert message.startswith(f"{db_path} is held by scan 12 (pid {holder.pid}, started 20")
        assert message.endswith("; use --wait to wait for it")
        assert lock_holder(db_path)["pid"] == holder.pid
    finally:
        end_holder(holder)
    assert holder.returncode == 0
    assert lock_holder(db_path) is None


def test_lock_of_a_sigkilled_holder_is_free_and_its_stale_note_is_cleared(db_path):
    holder, _ = start_holder(db_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert lock_holder(db_path) is None  # the kernel released the lock with the process
    stale = read_note(db_path)
    assert stale["pid"] == holder.pid and stale["scan_id"] == 12
    assert pid_alive(holder.pid) is False

    with ScanLock(db_path) as lock:
        assert lock.stale_note["pid"] == holder.pid
        assert lock.stale_message == (
            f"cleared a stale lock of {db_path} left by scan 12 (pid {holder.pid}, "
            f"started {stale['started_at']}): its process is gone")
        assert read_note(db_path)["pid"] == os.getpid()


def test_a_child_given_the_lock_keeps_it_after_its_parent_is_killed(db_path):
    holder, _ = start_holder(db_path, HOLDER_WITH_CHILD)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    try:
        with pytest.raises(ScanLockHeld) as refused:
            ScanLock(db_path).acquire()
        assert f"scan 7 (pid {holder.pid} gone, a child process still holds the lock" \
            in str(refused.value)
    finally:
        holder.stdin.close()  # the child reads the same pipe: it exits now
    with ScanLock(db_path, wait=True, timeout=30, poll_interval=0.02) as lock:
        assert lock.stale_note["scan_id"] == 7


def test_wait_gives_up_after_the_timeout_naming_the_holder(db_path):
    holder, _ = start_holder(db_path)
    told = []
    try:
        started = time.monotonic()
        with pytest.raises(ScanLockTimeout) as timed_out:
            ScanLock(db_path, wait=True, timeout=0.3, poll_interval=0.05,
                     on_wait=told.append).acquire()
        assert time.monotonic() - started >= 0.3
        assert str(timed_out.value).startswith(f"{db_path} is still held by scan 12 (pid {holder.pid}")
        assert "after waiting 0.3 s" in str(timed_out.value)
        assert len(told) == 1
        started_at = read_note(db_path)["started_at"]
        assert told[0].describe() == \
            f"{db_path} is held by scan 12 (pid {holder.pid}, started {started_at})"
    finally:
        end_holder(holder)


def test_wait_takes_the_lock_as_soon_as_the_holder_ends(db_path):
    holder, _ = start_holder(db_path)
    waiting = threading.Event()
    acquired = []

    def waiter():
        lock = ScanLock(db_path, wait=True, timeout=60, poll_interval=0.02,
                        on_wait=lambda held: waiting.set())
        with lock:
            acquired.append(lock.stale_note)

    thread = threading.Thread(target=waiter)
    thread.start()
    try:
        assert waiting.wait(timeout=30), "the waiter never saw the lock held"
        assert not acquired
    finally:
        end_holder(holder)
    thread.join(timeout=60)
    assert acquired == [None]  # the holder released cleanly: no stale note


def test_refusal_waits_out_a_holder_that_has_not_written_its_note_yet(db_path):
    import fcntl

    fd = os.open(lock_path(db_path), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # locked, note still empty: as just after a holder's flock
    try:
        started = time.monotonic()
        with pytest.raises(ScanLockHeld) as refused:
            ScanLock(db_path).acquire()
        assert time.monotonic() - started >= 0.9
        assert "held by another process (it left no note)" in str(refused.value)
    finally:
        os.close(fd)


def test_scan_exit_codes():
    assert scan_exit_code("complete", ["scored", "unreachable"]) == ExitCode.COMPLETE
    assert scan_exit_code("complete", ["unreachable", "unreachable"]) == ExitCode.ALL_UNREACHABLE
    assert scan_exit_code("interrupted", ["unreachable"]) == ExitCode.INTERRUPTED
    assert scan_exit_code("complete", []) == ExitCode.COMPLETE
    assert len({int(code) for code in ExitCode}) == len(ExitCode)


def test_every_exit_code_is_documented_in_scheduling_md():
    doc = (ROOT / "docs" / "scheduling.md").read_text(encoding="utf-8")
    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)
    for code in ExitCode:
        assert re.search(rf"^\| {int(code)} \| `{code.name}` \|", doc, re.M), \
            f"exit code {int(code)} ({code.name}) is not in docs/scheduling.md's table"
