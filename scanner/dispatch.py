"""`scanner dispatch`: one shard of a registry per Scrapyd node, through Scrapyd's HTTP API
(addversion.json, listspiders.json, schedule.json, listjobs.json), the shard databases brought
back (a shared folder, or over HTTP from the node's logs folder), then merged (scanner/merge.py).

A node that is unreachable, has an old egg, fails a shard or disappears mid-scan is named in one
line; its shard goes to another node that has not failed it, or is reported as not done.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from scanner.merge import MergeOutcome, merge_shards
from scanner.options import ScanOptions
from scanner.scrapyd_job import (EXIT_LINE, PROJECT, SPIDER_NAME, build_egg, egg_version,
                                 evidence_archive, pack_registry, shard_db_path, unpack_evidence)
from scanner.shard import Shard
from scanner.shard_db import MergeError, open_shard

# A spider argument is one command-line argument of the job process (Linux: 128 KiB at most).
INLINE_REGISTRY_LIMIT = 120_000
PROGRESS_RE = re.compile(r"scan: target (\d+)/(\d+) ")
HTTP_TIMEOUT = 15
LOG_TAIL_BYTES = 64 * 1024


class NodeError(RuntimeError):
    """A Scrapyd node that did not answer as expected; str() is the reason."""


class DispatchError(RuntimeError):
    """Nothing could be dispatched; str() is the one-line reason."""


class ScrapydNode:
    """One Scrapyd service, spoken to through its JSON API."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.alive = True

    def __str__(self) -> str:
        """The URL without a password (http://user:secret@node:6800 authenticates, not logs)."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{parts.hostname}"
                                                + (f":{parts.port}" if parts.port else "")))

    def _json(self, response: requests.Response) -> dict:
        try:
            data = response.json()
        except ValueError:
            raise NodeError(f"HTTP {response.status_code}, not a Scrapyd answer") from None
        if data.get("status") != "ok":
            raise NodeError(str(data.get("message", data)).strip().splitlines()[-1][:200])
        return data

    def get(self, endpoint: str, **params) -> dict:
        try:
            response = requests.get(f"{self.url}/{endpoint}", params=params, timeout=HTTP_TIMEOUT)
        except requests.RequestException as exc:
            raise NodeError(f"unreachable ({type(exc).__name__})") from None
        return self._json(response)

    def post(self, endpoint: str, data: dict, files=None) -> dict:
        try:
            response = requests.post(f"{self.url}/{endpoint}", data=data, files=files,
                                     timeout=HTTP_TIMEOUT * 4)
        except requests.RequestException as exc:
            raise NodeError(f"unreachable ({type(exc).__name__})") from None
        return self._json(response)

    def download(self, path: str, destination: Path) -> bool:
        """GET url+path into destination; False when the node has no such file."""
        try:
            with requests.get(f"{self.url}{path}", stream=True, timeout=HTTP_TIMEOUT) as response:
                if response.status_code != 200:
                    return False
                with open(destination, "wb") as handle:
                    for chunk in response.iter_content(1 << 20):
                        handle.write(chunk)
        except requests.RequestException as exc:
            raise NodeError(f"unreachable ({type(exc).__name__})") from None
        return True

    def text(self, path: str, tail: int | None = None) -> str:
        """A file the node serves (a job's log), or only its last `tail` bytes."""
        headers = {"Range": f"bytes=-{tail}"} if tail else {}
        try:
            response = requests.get(f"{self.url}{path}", headers=headers, timeout=HTTP_TIMEOUT)
            if tail and response.status_code not in (200, 206):
                # Twisted answers 500 to a suffix range longer than the file: take it whole
                response = requests.get(f"{self.url}{path}", timeout=HTTP_TIMEOUT)
        except requests.RequestException:
            return ""
        return response.text if response.status_code in (200, 206) else ""


@dataclasses.dataclass
class ShardRun:
    shard: Shard
    node: ScrapydNode | None = None
    job_id: str | None = None
    state: str = "queued"          # queued | pending | running | fetched | not done
    tried: list = dataclasses.field(default_factory=list)
    db_path: Path | None = None
    progress: str = ""
    reason: str = ""

    @property
    def active(self) -> bool:
        return self.state in ("pending", "running")


@dataclasses.dataclass
class DispatchOutcome:
    runs: list[ShardRun]
    merge: MergeOutcome | None

    @property
    def not_done(self) -> list[ShardRun]:
        return [run for run in self.runs if run.state != "fetched"]


def dispatch(node_urls, targets_file, out_db, *, options: ScanOptions, shards: int | None = None,
             shared_dir: str | Path | None = None, deploy: bool = True, egg: str | Path | None = None,
             poll_seconds: float = 1.0, timeout: float | None = None, report=print) -> DispatchOutcome:
    """Scan targets_file as shards over the nodes, bring the shard databases back into
    `OUT_DB.shards/` (or read them in shared_dir) and merge them into one scan of out_db."""
    nodes = [ScrapydNode(url) for url in node_urls]
    for node in nodes:
        try:
            node.get("daemonstatus.json")
        except NodeError as exc:
            _drop(node, f"{exc}", report)
    if not any(n.alive for n in nodes):
        raise DispatchError("no Scrapyd node reachable: " + ", ".join(map(str, nodes)))
    count = shards or sum(n.alive for n in nodes)
    registry_args = _registry_args(Path(targets_file), shared_dir)
    version = _deploy(nodes, egg, report) if deploy else None
    for node in _alive(nodes):
        _check_spider(node, version, report)
    if not any(n.alive for n in nodes):
        raise DispatchError("no Scrapyd node can run the shard job")

    shard_dir = Path(f"{out_db}.shards")
    shard_dir.mkdir(parents=True, exist_ok=True)
    runs = [ShardRun(Shard(i, count)) for i in range(1, count + 1)]
    job_options = {**options.to_dict(), "shard": ""}
    schedule = _Scheduler(nodes, runs, version, registry_args, job_options, shared_dir, report)
    for run in runs:
        schedule.place(run)
    deadline = None if timeout is None else time.monotonic() + timeout
    while any(run.active for run in runs):
        time.sleep(poll_seconds)
        for node in _alive(nodes):
            schedule.poll(node, shard_dir)
        if deadline is not None and time.monotonic() > deadline:
            for run in runs:
                if run.active:
                    schedule.cancel(run)
                    schedule.give_up(run, f"timed out after {timeout:g} s")
    fetched = [run.db_path for run in runs if run.state == "fetched"]
    outcome = None
    if fetched:
        # always a scan of its own: never the open merged scan of an earlier dispatch
        outcome = merge_shards(out_db, fetched, into="new", targets_file=str(targets_file),
                               on_result=lambda r: report(("Error: " if r.status == "refused" else "")
                                                          + r.line()))
    return DispatchOutcome(runs, outcome)


def _alive(nodes):
    return [n for n in nodes if n.alive]


def _drop(node: ScrapydNode, reason: str, report) -> None:
    node.alive = False
    report(f"Error: node {node}: {reason}")


def _registry_args(targets_file: Path, shared_dir) -> dict:
    """The registry for the job: a path in the shared folder, or the file itself, packed."""
    if shared_dir:
        shared = Path(shared_dir)
        shared.mkdir(parents=True, exist_ok=True)
        copy = shared / f"registry-{int(time.time())}-{targets_file.name}"
        shutil.copyfile(targets_file, copy)
        return {"registry": str(copy.resolve())}
    packed = pack_registry(targets_file.read_text(encoding="utf-8"))
    if len(packed) > INLINE_REGISTRY_LIMIT:
        raise DispatchError(f"{targets_file}: too large to send in a job's arguments "
                            f"({len(packed) // 1000} KB packed): use --shared-dir")
    return {"registry_b64": packed}


def _deploy(nodes, egg, report) -> str:
    with tempfile.TemporaryDirectory(prefix="scanner-dispatch-egg-") as build_dir:
        egg_path = Path(egg) if egg else build_egg(build_dir)
        version = egg_version(egg_path)
        for node in _alive(nodes):
            try:
                with open(egg_path, "rb") as handle:
                    node.post("addversion.json", {"project": PROJECT, "version": version},
                              files={"egg": (egg_path.name, handle)})
                report(f"node {node}: egg {version} deployed")
            except NodeError as exc:
                _drop(node, f"deploying the egg failed: {exc}", report)
    return version


def _check_spider(node: ScrapydNode, version: str | None, report) -> None:
    """A node whose egg lacks the shard job (an old egg) is left out, with one line."""
    params = {"project": PROJECT, **({"_version": version} if version else {})}
    try:
        spiders = node.get("listspiders.json", **params).get("spiders", [])
    except NodeError as exc:
        _drop(node, f"cannot list its spiders ({exc}): deploy the egg (see docs/scale.md)", report)
        return
    if SPIDER_NAME not in spiders:
        _drop(node, f"its egg ({version or 'latest'}) has no {SPIDER_NAME} spider: an old egg; "
                    "deploy a current one", report)


class _Scheduler:
    def __init__(self, nodes, runs, version, registry_args, job_options, shared_dir, report):
        import json

        self.nodes, self.runs, self.version = nodes, runs, version
        self.registry_args = registry_args
        self.options_json = json.dumps(job_options, sort_keys=True)
        self.shared_dir = Path(shared_dir).resolve() if shared_dir else None
        self.report = report

    def _candidates(self, run: ShardRun):
        load = {n.url: 0 for n in self.nodes}
        for other in self.runs:
            if other.active and other.node is not None:
                load[other.node.url] += 1
        return sorted((n for n in _alive(self.nodes) if n.url not in run.tried),
                      key=lambda n: (load[n.url], self.nodes.index(n)))

    def place(self, run: ShardRun) -> None:
        """Schedule the shard on the least busy live node that has not failed it."""
        for node in self._candidates(run):
            run.tried.append(node.url)
            data = {"project": PROJECT, "spider": SPIDER_NAME, "shard": str(run.shard),
                    "options": self.options_json, **self.registry_args}
            if self.version:
                data["_version"] = self.version
            if self.shared_dir:
                data["out_dir"] = str(self.shared_dir)
            try:
                job = node.post("schedule.json", data)
            except NodeError as exc:
                self.lose_node(node, f"scheduling shard {run.shard} failed: {exc}")
                continue
            run.node, run.job_id, run.state, run.progress = node, job["jobid"], "pending", ""
            self.report(f"node {node}: shard {run.shard} scheduled (job {run.job_id})")
            return
        self.give_up(run, run.reason or "no live node left to run it")

    def give_up(self, run: ShardRun, reason: str) -> None:
        run.state, run.reason = "not done", reason
        self.report(f"Error: shard {run.shard}: not done ({reason})")

    def fail(self, run: ShardRun, reason: str) -> None:
        """The shard failed where it ran: say why, and run it elsewhere if a node is left."""
        run.reason = f"{run.node}: {reason}"
        self.report(f"Error: node {run.node}: shard {run.shard} {reason}")
        run.state = "queued"
        self.place(run)

    def lose_node(self, node: ScrapydNode, reason: str) -> None:
        """A node that stopped answering: named once, and every shard it held runs elsewhere."""
        if node.alive:
            _drop(node, reason, self.report)
        for run in self.runs:
            if run.active and run.node is node:
                self.fail(run, "lost with its node")

    def cancel(self, run: ShardRun) -> None:
        try:
            run.node.post("cancel.json", {"project": PROJECT, "job": run.job_id})
        except NodeError:
            pass  # a node that does not answer cannot run the job on either

    def poll(self, node: ScrapydNode, shard_dir: Path) -> None:
        mine = [run for run in self.runs if run.active and run.node is node]
        if not mine:
            return
        try:
            jobs = node.get("listjobs.json", project=PROJECT)
        except NodeError as exc:
            self.lose_node(node, f"disappeared during the scan ({exc})")
            return
        states = {job["id"]: (state, job) for state in ("pending", "running", "finished")
                  for job in jobs.get(state, [])}
        for run in mine:
            if not node.alive:  # lost while fetching an earlier shard: lose_node moved the rest
                return
            state, job = states.get(run.job_id, (None, None))
            if state is None:
                self.fail(run, "vanished from the node's jobs (restarted?)")
            elif state == "running":
                if run.state != "running":
                    run.state = "running"
                    self.report(f"node {node}: shard {run.shard} running")
                self._progress(run, job)
            elif state == "finished":
                self._fetch(run, job, shard_dir)

    def _progress(self, run: ShardRun, job: dict) -> None:
        # the log's end is enough: a long scan's log is megabytes, read every few seconds
        matches = PROGRESS_RE.findall(run.node.text(job.get("log_url") or "", tail=LOG_TAIL_BYTES))
        if matches and f"{matches[-1][0]}/{matches[-1][1]}" != run.progress:
            run.progress = f"{matches[-1][0]}/{matches[-1][1]}"
            self.report(f"node {run.node}: shard {run.shard}: {run.progress} targets done")

    def _fetch(self, run: ShardRun, job: dict, shard_dir: Path) -> None:
        log_url = job.get("log_url") or ""
        if self.shared_dir:
            path = shard_db_path(run.job_id, str(self.shared_dir))
            found = path.is_file()
        else:
            path = shard_dir / f"shard-{run.shard.index}-of-{run.shard.count}-{run.job_id}.db"
            db_url = log_url[:-len(".log")] + ".db" if log_url.endswith(".log") else ""
            try:
                found = bool(db_url) and run.node.download(db_url, path)
                archive = evidence_archive(path)
                if found and run.node.download(str(evidence_archive(Path(db_url))), archive):
                    unpack_evidence(archive, path)
                    archive.unlink()
            except NodeError as exc:
                self.lose_node(run.node, f"disappeared during the scan ({exc})")
                return
        if not found:
            self.fail(run, f"ended without a shard database ({self._why(run, log_url)})")
            return
        try:
            conn = open_shard(path)
            row = conn.execute("SELECT status FROM scans ORDER BY id DESC LIMIT 1").fetchone()
            conn.close()
        except (MergeError, sqlite3.DatabaseError) as exc:
            self.fail(run, f"returned an unusable shard database ({exc})")
            return
        status = row[0] if row else "missing"
        if status != "complete":
            if self._candidates(run):
                self.fail(run, f"ended with its scan {status}")
                return
            self.report(f"Error: node {run.node}: shard {run.shard} ended with its scan {status} "
                        "and no other node can run it: merged as it is")
        run.state, run.db_path = "fetched", path
        self.report(f"node {run.node}: shard {run.shard} finished: {path}")

    def _why(self, run: ShardRun, log_url: str) -> str:
        """The job log's error or exit line: what the node itself said."""
        lines = run.node.text(log_url, tail=LOG_TAIL_BYTES).splitlines() if log_url else []
        for marker in ("Error:", EXIT_LINE, "Traceback"):
            for line in reversed(lines):
                if marker in line:
                    return line[line.index(marker):].strip()[:200]
        return "no log" if not lines else lines[-1][-200:]
