"""Scrapyd: the egg, and real Scrapyd services on loopback running a registry's shards.

The nodes run a Python that sees the project's dependencies but not the checkout (the venv's
editable install is left out), so the scan on a node runs from the egg alone: code, rules,
tracker lists and settings. The merged result must read exactly as a one-machine scan does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
import requests
from helpers import ROOT, free_port, run_cli
from test_merge import scan_facts

from scanner.scrapyd_job import EGG_SOURCES, PROJECT, build_egg, pack_registry

NODE_START_SECONDS = 20


@pytest.fixture(scope="module")
def node_python(tmp_path_factory) -> Path:
    """A venv whose Python imports the project's dependencies but not the project itself."""
    venv = tmp_path_factory.mktemp("node-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--clear", str(venv)], check=True)
    python = venv / "bin" / "python"
    node_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip()
    # A path line, not a site dir: the .pth files there (the editable install's finder) stay unread.
    Path(node_site, "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def node_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "SCANNER_LOOPBACK_ONLY": "1"}


class ScrapydService:
    """One `python -m scrapyd` on a free loopback port, in a folder of its own."""

    def __init__(self, python: Path, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        (folder / "scrapyd.conf").write_text(
            "[scrapyd]\nbind_address = 127.0.0.1\n"
            f"http_port = {port}\npoll_interval = 0.2\nmax_proc = 2\njobs_to_keep = 25\n")
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(folder / "scrapyd.out", "wb")
        # A session of its own: killing it takes its jobs and their scans along.
        self.process = subprocess.Popen([str(python), "-m", "scrapyd"], cwd=folder,
                                        env=node_environment(), stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + NODE_START_SECONDS
        while True:
            try:
                if requests.get(f"{self.url}/daemonstatus.json", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"scrapyd did not start: {(folder / 'scrapyd.out').read_text()}")
            time.sleep(0.2)

    def deploy(self, egg: Path, version: str) -> dict:
        with open(egg, "rb") as handle:
            return requests.post(f"{self.url}/addversion.json", timeout=60,
                                 data={"project": PROJECT, "version": version},
                                 files={"egg": (egg.name, handle)}).json()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def egg(tmp_path_factory) -> Path:
    return build_egg(tmp_path_factory.mktemp("egg"))


@pytest.fixture(scope="module")
def two_nodes(node_python, egg, tmp_path_factory):
    folder = tmp_path_factory.mktemp("scrapyd")
    nodes = [ScrapydService(node_python, folder / f"node{i}") for i in (1, 2)]
    for node in nodes:  # an egg in place, for the runs that do not deploy one
        assert node.deploy(egg, "1-fixture")["status"] == "ok"
    yield nodes
    for node in nodes:
        node.kill()


def test_the_egg_carries_rules_and_runs_without_the_checkout(node_python, tmp_path):
    from scanner.matching import rules_version
    from scanner.rule_schema import load_rules
    from scanner.trackers import TrackerList

    expected = {"rules_version": rules_version(), "policy_rules": len(load_rules()),
                "tracker_rules": len(TrackerList.load().entries)}
    egg = build_egg(tmp_path / "egg")  # right after reading the checkout's rules

    code = """if True:
        import json, scanner, scanner.paths as paths
        from scanner.matching import rules_version
        from scanner.rule_schema import load_rules
        from scanner.trackers import TrackerList
        import os
        from scanner.scrapyd_job import shadowed_egg_problem
        os.environ["SCRAPY_PROJECT"] = "scanner"
        print(json.dumps({"module": scanner.__file__, "rules_dir": str(paths.RULES_DIR),
                          "shadowed": shadowed_egg_problem(),
                          "rules_version": rules_version(), "policy_rules": len(load_rules()),
                          "tracker_rules": len(TrackerList.load().entries),
                          "spiders": sorted(__import__("scrapy.spiderloader").spiderloader
                                            .SpiderLoader.from_settings(__import__("scrapy.settings")
                                            .settings.Settings({"SPIDER_MODULES": ["spiders"]})).list())}))
    """
    result = subprocess.run([str(node_python), "-c", code], cwd=tmp_path / "egg", capture_output=True,
                            text=True, env={**node_environment(), "PYTHONPATH": str(egg)}, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["module"].startswith(str(egg) + os.sep)  # imported from inside the zip
    assert not Path(seen["rules_dir"]).is_relative_to(ROOT) and Path(seen["rules_dir"]).is_dir()
    assert {key: seen[key] for key in expected} == expected
    assert seen["shadowed"] is None  # the node runs the egg, not an installed scanner
    assert expected["policy_rules"] > 0 and expected["tracker_rules"] > 0
    assert "shard_scan" in seen["spiders"] and "policy" in seen["spiders"]


def test_a_job_run_by_an_installed_scanner_says_the_egg_is_shadowed(monkeypatch):
    from scanner.scrapyd_job import shadowed_egg_problem

    assert shadowed_egg_problem() is None  # not under Scrapyd
    monkeypatch.setenv("SCRAPY_PROJECT", "scanner")
    assert "not the deployed egg: uninstall child-privacy-scanner" in shadowed_egg_problem()


def test_a_checkout_without_a_shard_spider_builds_an_egg_scrapyd_lists_without_it(tmp_path):
    """What an old egg looks like to `scanner dispatch` (test below): no shard_scan spider."""
    old = old_checkout(tmp_path / "old")
    egg = build_egg(tmp_path / "egg", source_root=old)
    import zipfile

    names = zipfile.ZipFile(egg).namelist()
    assert "spiders/policy.py" in names and "spiders/shard_scan.py" not in names
    assert any(n.startswith("rules/policy/en/") for n in names)


def old_checkout(folder: Path) -> Path:
    """The checkout's egg sources as they were before the shard job existed."""
    for name in EGG_SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    (folder / "spiders" / "shard_scan.py").unlink()
    return folder


@pytest.mark.crawl
def test_two_nodes_scan_the_registry_as_one_machine_does(two_nodes, demo_targets_file, demo_scan_db,
                                                        tmp_path):
    unreachable = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "merged.db"
    started = time.monotonic()
    result = run_cli("dispatch", "--scrapyd", two_nodes[0].url, "--scrapyd", unreachable,
                     "--scrapyd", two_nodes[1].url, demo_targets_file, "--db", out,
                     "--allow-private", "--poll", "0.3", check=False, timeout=240)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    errors = result.stderr.strip().splitlines()
    assert errors == [f"Error: node {unreachable}: unreachable (ConnectionError)"]
    for node, shard in ((two_nodes[0], "1/2"), (two_nodes[1], "2/2")):
        assert f"node {node.url}: egg " in result.stdout
        assert f"node {node.url}: shard {shard} scheduled" in result.stdout
        assert f"node {node.url}: shard {shard} finished" in result.stdout
    assert " targets done" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "scan 1: complete"
    assert scan_facts(out) == scan_facts(demo_scan_db)
    with sqlite3.connect(out) as conn:
        shards = conn.execute("SELECT shard, rules_version FROM merged_shards ORDER BY shard").fetchall()
        single = sqlite3.connect(demo_scan_db).execute("SELECT rules_version FROM scans").fetchone()[0]
    assert shards == [("1/2", single), ("2/2", single)]
    assert len(list(Path(f"{out}.shards").glob("shard-*.db"))) == 2
    with sqlite3.connect(out) as conn:  # evidence files (raw bodies) came back over HTTP too
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        bodies = [r[0] for r in conn.execute("SELECT path FROM bodies")] if "bodies" in tables else []
    assert all((out.parent / p).is_file() for p in bodies)
    assert "evidence files not found" not in result.stdout
    print(f"two-node dispatch of the demo registry: {seconds:.1f} s")


@pytest.mark.crawl
def test_an_old_egg_and_a_node_lost_mid_scan_leave_no_shard_missing_via_a_shared_folder(two_nodes, egg, node_python,
                                                                     demo_targets_file, demo_scan_db,
                                                                     tmp_path):
    from scanner.dispatch import dispatch
    from scanner.options import ScanOptions

    good = two_nodes[0]
    stale = ScrapydService(node_python, tmp_path / "stale")
    doomed = ScrapydService(node_python, tmp_path / "doomed")
    try:
        old_egg = build_egg(tmp_path / "old-egg", source_root=old_checkout(tmp_path / "old"))
        assert stale.deploy(old_egg, "1-old")["status"] == "ok"
        assert doomed.deploy(egg, "1-fixture")["status"] == "ok"
        lines = []

        def report(line):
            lines.append(line)
            if line.startswith(f"node {doomed.url}: shard") and " scheduled (job " in line:
                doomed.kill()  # the node goes away with the job it was just given

        outcome = dispatch([good.url, stale.url, doomed.url], demo_targets_file, tmp_path / "m.db",
                           options=ScanOptions(allow_private=True, loopback_only=True), shards=2,
                           deploy=False, poll_seconds=0.3, timeout=200, report=report,
                           shared_dir=tmp_path / "shared")
    finally:
        stale.kill()
        doomed.kill()
    text = "\n".join(lines)
    assert f"Error: node {stale.url}: its egg (latest) has no shard_scan spider: an old egg" in text
    assert f"node {doomed.url}: shard 2/2 scheduled" in text
    assert f"Error: node {doomed.url}: disappeared during the scan" in text
    assert f"Error: node {doomed.url}: shard 2/2 lost with its node" in text
    assert f"node {good.url}: shard 2/2 scheduled" in text and f"node {good.url}: shard 1/2 finished" in text
    assert not outcome.not_done and outcome.merge.status == "complete"
    # through the shared folder: the registry went there, the shard databases came from there
    assert [run.db_path.parent for run in outcome.runs] == [(tmp_path / "shared").resolve()] * 2
    assert list((tmp_path / "shared").glob("registry-*-demo.yaml"))
    assert scan_facts(tmp_path / "m.db") == scan_facts(demo_scan_db)


@pytest.mark.crawl
def test_a_shard_that_fails_everywhere_is_reported_not_done(two_nodes, demo_targets_file, tmp_path):
    from scanner.dispatch import dispatch
    from scanner.options import ScanOptions

    shared = tmp_path / "shared"
    lines = []

    def report(line):
        lines.append(line)
        if " scheduled (job " in line:  # the registry vanishes before the job starts
            for registry in shared.glob("registry-*"):
                registry.unlink()

    outcome = dispatch([node.url for node in two_nodes], demo_targets_file, tmp_path / "m.db",
                       options=ScanOptions(allow_private=True, loopback_only=True), shards=1,
                       deploy=False, poll_seconds=0.3, timeout=120, report=report,
                       shared_dir=shared)
    text = "\n".join(lines)
    for node in two_nodes:  # tried on each node once, with the node's own reason
        assert f"node {node.url}: shard 1/1 scheduled" in text
        assert f"Error: node {node.url}: shard 1/1 ended without a shard database (Error: " in text
    reason = lines[-2].split("ended without a shard database (", 1)[1]
    assert "registry-" in reason and "no such file" in reason.lower()  # what the node's scan said
    assert lines[-1] == f"Error: shard 1/1: not done ({two_nodes[1].url}: ended without a shard database ({reason})"
    assert [run.state for run in outcome.runs] == ["not done"] and outcome.merge is None


def test_dispatch_bad_input_is_one_line_before_any_node_is_asked(tmp_path):
    from helpers import invoke, write_file

    registry = write_file(tmp_path, "targets:\n  - id: a\n    name: A\n    audience: adults\n"
                                    "    homepage: https://a.example/\n")
    silent = f"http://127.0.0.1:{free_port()}"
    result = invoke("dispatch", "--scrapyd", silent, registry, "--db", tmp_path / "r.db")
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {registry}:") and result.output.count("\n") == 1
    assert "unreachable" not in result.output and not (tmp_path / "r.db").exists()


def test_dispatch_with_no_reachable_node_names_each_and_stops(tmp_path):
    from helpers import invoke, write_targets

    registry = write_targets(tmp_path / "t.yaml", {"id": "a", "name": "A", "audience": "general",
                                                   "homepage": "https://a.example/"})
    nodes = [f"http://127.0.0.1:{free_port()}", f"http://scanner:secret@127.0.0.1:{free_port()}"]
    result = invoke("dispatch", "--scrapyd", nodes[0], "--scrapyd", nodes[1], registry,
                    "--db", tmp_path / "r.db")
    assert result.exit_code == 2
    masked = nodes[1].replace("secret", "***")
    assert result.output.splitlines() == [
        f"Error: node {nodes[0]}: unreachable (ConnectionError)",
        f"Error: node {masked}: unreachable (ConnectionError)",
        f"Error: no Scrapyd node reachable: {nodes[0]}, {masked}"]
    assert not Path(f"{tmp_path / 'r.db'}.shards").exists()


def test_eggs_with_the_same_rules_share_one_unpacked_folder(tmp_path):
    from scanner.paths import RULES_DIR, unpack_egg_data

    first = unpack_egg_data(build_egg(tmp_path / "a"), into=tmp_path)
    second = unpack_egg_data(build_egg(tmp_path / "b"), into=tmp_path)
    assert first == second and len(list(tmp_path.glob("child-privacy-scanner-egg-*"))) == 1
    unpacked = sorted(p.relative_to(first / "rules") for p in (first / "rules").rglob("*.yaml"))
    assert unpacked == sorted(p.relative_to(RULES_DIR) for p in RULES_DIR.rglob("*.yaml"))


def test_a_shard_job_passes_on_the_scan_options_that_differ_from_the_defaults(tmp_path):
    from scanner.options import ScanOptions
    from scanner.scrapyd_job import ShardJob, scan_flags

    options = ScanOptions(allow_private=True, loopback_only=True, max_pages=2, browser=True,
                          batch_size=7, shard="1/9").to_dict()
    assert scan_flags(options) == ["--allow-private", "--max-pages", "2", "--browser",
                                   "--batch-size", "7"]
    job = ShardJob.from_args(shard="2/3", registry="", registry_b64=pack_registry("targets: []\n"),
                             options=json.dumps(options), out_dir=str(tmp_path), job_id="j1",
                             log_file=None)
    command = job.command()
    assert command[-2:] == ["--shard", "2/3"] and f"{tmp_path / 'j1.db'}" in command
    assert Path(command[command.index("scan") + 1]).read_text() == "targets: []\n"
    job.registry_dir.cleanup()
