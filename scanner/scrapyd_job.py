"""Scrapyd deployment: the egg (spiders, rules, tracker lists, settings) and the job that runs one
shard's scan on a node (spiders/shard_scan.py is its Scrapy face). See docs/scale.md."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

from scanner.options import ScanOptions

SPIDER_NAME = "shard_scan"
PROJECT = "scanner"
# What the egg is built from: the packages (pyproject.toml's find), the data under rules/, and
# the two build files. Copied to a temporary folder so a build never writes into the checkout.
EGG_SOURCES = ("pyproject.toml", "setup.py", "README.md", "scanner", "spiders", "reports", "rules")
# Options a shard job passes on to `scanner scan` (loopback_only is the node's own environment).
FORWARDED_OPTIONS = ("allow_private", "max_pages", "max_policy_pages", "browser", "ignore_robots",
                     "workers", "batch_size", "log_level")
# The line a job's log ends with; `scanner dispatch` reads it back when a shard database is missing.
EXIT_LINE = "shard scan exited"


class EggBuildError(RuntimeError):
    """The egg could not be built; str() is the one-line reason."""


def build_egg(out_dir: str | Path, source_root: str | Path | None = None) -> Path:
    """Build the project's egg into out_dir from a copy of the checkout; its path."""
    from scanner.paths import ROOT

    source_root = Path(source_root or ROOT)
    out_dir = Path(out_dir).resolve()  # setup.py runs in the build folder
    out_dir.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.db", "*.db-*", "*.egg-info")
    with tempfile.TemporaryDirectory(prefix="scanner-egg-build-") as build:
        for name in EGG_SOURCES:
            source = source_root / name
            if source.is_dir():
                shutil.copytree(source, Path(build) / name, ignore=ignore)
            elif source.is_file():
                shutil.copy2(source, Path(build) / name)
            else:
                raise EggBuildError(f"{source}: missing, cannot build the egg")
        result = subprocess.run(
            [sys.executable, "setup.py", "-q", "bdist_egg", "-d", str(out_dir)],
            cwd=build, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise EggBuildError(f"building the egg failed: {last}")
    eggs = sorted(out_dir.glob("*.egg"), key=lambda p: p.stat().st_mtime)
    if not eggs:
        raise EggBuildError("building the egg produced no .egg file")
    return eggs[-1]


def egg_version(egg: Path) -> str:
    """A Scrapyd version for this egg: build time first (Scrapyd's 'latest'), then content."""
    digest = hashlib.sha256(egg.read_bytes()).hexdigest()[:12]
    return f"{int(time.time())}-{digest}"


def pack_registry(text: str) -> str:
    """A registry as one spider argument (zlib, base64): command lines are short."""
    return base64.b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii")


def unpack_registry(packed: str) -> str:
    return zlib.decompress(base64.b64decode(packed)).decode("utf-8")


def scan_flags(options: dict) -> list[str]:
    """`scanner scan` flags for the forwarded options that differ from the defaults."""
    defaults = ScanOptions().to_dict()
    flags: list[str] = []
    for name in FORWARDED_OPTIONS:
        value = options.get(name, defaults[name])
        if value == defaults[name]:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags += [flag] if value else []
        else:
            flags += [flag, str(value)]
    return flags


def shard_db_path(job_id: str, out_dir: str = "", log_file: str | None = None) -> Path:
    """Where a job writes its shard database: out_dir (a shared folder), or beside the job's log
    (Scrapyd serves its logs folder over HTTP), or the working directory."""
    if out_dir:
        return Path(out_dir) / f"{job_id}.db"
    if log_file:
        return Path(log_file).with_suffix(".db")
    return Path.cwd() / f"{job_id}.db"


def single_file(db_path: Path) -> None:
    """Fold the WAL into the database file: the file alone is then the whole shard."""
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def shadowed_egg_problem() -> str | None:
    """Scrapyd appends the egg to sys.path: a scanner installed on the node comes first and runs
    instead of the deployed egg (its own rules, its own code)."""
    import scanner

    module = Path(scanner.__file__)
    if os.environ.get("SCRAPY_PROJECT") and not any(
            parent.suffix == ".egg" and parent.is_file() for parent in module.parents):
        return (f"this node runs the scanner installed at {module.parent}, not the deployed egg: "
                "uninstall child-privacy-scanner from the node's Python (docs/scale.md)")
    return None


def evidence_archive(db_path: Path) -> Path:
    """Where a shard's evidence folder is packed for the trip over HTTP: `<db>.evidence.zip`."""
    return Path(f"{db_path}.evidence.zip")


def pack_evidence(db_path: Path) -> Path | None:
    """Zip `<db>.evidence/` (screenshots, HAR, raw bodies: files the rows name) beside the
    database, so one more download brings it back with the shard."""
    folder = Path(f"{db_path}.evidence")
    if not folder.is_dir():
        return None
    archive = evidence_archive(db_path)
    partial = archive.with_name(f".{archive.name}.part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as packed:  # bodies are gzipped already
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                packed.write(path, path.relative_to(folder).as_posix())
    partial.replace(archive)
    return archive


def unpack_evidence(archive: Path, db_path: Path) -> bool:
    """`<db>.evidence/` from its archive; False when the archive is damaged (merge then counts
    the files it lacks)."""
    try:
        with zipfile.ZipFile(archive) as packed:
            packed.extractall(Path(f"{db_path}.evidence"))  # drops absolute and '..' parts
    except zipfile.BadZipFile:
        return False
    return True


def _die_with_parent() -> None:
    """The scan gets SIGTERM (and ends 'interrupted') if the Scrapyd job process dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


@dataclasses.dataclass
class ShardJob:
    shard: str
    registry_path: Path
    options: dict
    db_path: Path
    job_id: str
    registry_dir: tempfile.TemporaryDirectory | None = None
    process: asyncio.subprocess.Process | None = None

    @classmethod
    def from_args(cls, *, shard: str, registry: str, registry_b64: str, options: str,
                  out_dir: str, job_id: str, log_file: str | None) -> ShardJob:
        job_id = job_id or f"local-{os.getpid()}"
        registry_dir = None
        if registry_b64:
            registry_dir = tempfile.TemporaryDirectory(prefix="scanner-registry-")
            registry_path = Path(registry_dir.name) / "registry.yaml"
            registry_path.write_text(unpack_registry(registry_b64), encoding="utf-8")
        else:
            registry_path = Path(registry)
        return cls(shard, registry_path, json.loads(options or "{}"),
                   shard_db_path(job_id, out_dir, log_file), job_id, registry_dir)

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "scanner.cli", "scan", str(self.registry_path),
                   "--db", str(self.db_path), *scan_flags(self.options)]
        return command + (["--shard", self.shard] if self.shard else [])

    def environment(self) -> dict[str, str]:
        """This process's environment with the egg (or checkout) the scanner was imported from
        first on the path, so the scan and its workers run the same code."""
        import scanner

        source = str(Path(scanner.__file__).resolve().parent.parent)
        return {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [source, os.environ.get("PYTHONPATH")]))}

    async def run(self, logger) -> int:
        """Run the scan to its end, logging its output; its exit code (docs/scheduling.md)."""
        if problem := shadowed_egg_problem():
            logger.error(problem)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        logger.info("shard scan %s of %s into %s", self.shard or "(all)", self.registry_path,
                    self.db_path)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(), env=self.environment(), cwd=str(self.db_path.parent),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                preexec_fn=_die_with_parent)
            async for raw in self.process.stdout:
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    (logger.error if line.startswith("Error:") else logger.info)("scan: %s", line)
            code = await self.process.wait()
        finally:
            if self.registry_dir is not None:
                self.registry_dir.cleanup()
        if self.db_path.is_file():
            single_file(self.db_path)
            pack_evidence(self.db_path)
        logger.info("%s %s; database %s", EXIT_LINE, code, self.db_path)
        return code

    def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
