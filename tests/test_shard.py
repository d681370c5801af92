"""Deterministic sharding: a target's shard depends on its id and N only, on every machine."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import invoke, write_targets

from scanner.shard import Shard, ShardError, select_shard, shard_of
from scanner.targets import load_targets

IDS = [f"app-{n:04d}" for n in range(2000)]


def test_every_target_is_in_exactly_one_shard_and_shards_are_balanced():
    for count in (1, 2, 3, 7):
        shards = [[i for i in IDS if Shard(index, count).holds(i)] for index in range(1, count + 1)]
        assert sorted(sum(shards, [])) == sorted(IDS)
        expected = len(IDS) / count
        assert all(abs(len(s) - expected) < expected * 0.15 for s in shards), [len(s) for s in shards]


def test_a_target_keeps_its_shard_across_processes():
    # another interpreter, another hash seed: the same shards (Python's hash() would differ)
    code = ("from scanner.shard import shard_of; "
            f"print(','.join(str(shard_of(i, 5)) for i in {IDS[:300]!r}))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin",
                                "PYTHONPATH": str(__import__("helpers").ROOT)})
    assert other.stdout.strip() == ",".join(str(shard_of(i, 5)) for i in IDS[:300])


def test_a_target_moves_only_when_n_changes():
    assert [shard_of(i, 3) for i in IDS] == [shard_of(i, 3) for i in IDS]
    moved = sum(shard_of(i, 3) != shard_of(i, 4) for i in IDS)
    assert moved > len(IDS) // 2  # a new N is a new split, stated in docs/scale.md


@pytest.mark.parametrize("spec, message", [
    ("0/2", "between 1 and N"), ("3/2", "between 1 and N"), ("1/0", "between 1 and N"),
    ("half", "expected I/N"), ("1/2/3", "expected I/N"), ("", "expected I/N"),
])
def test_bad_shard_specs_are_refused(spec, message):
    with pytest.raises(ShardError, match=message):
        Shard.parse(spec)


def test_select_shard_keeps_registry_order(tmp_path):
    path = write_targets(tmp_path / "t.yaml", *[
        {"id": f"kid-app-{n}", "name": f"Kid app {n}", "audience": "child-directed",
         "homepage": f"https://kid-app-{n}.example/"} for n in range(12)])
    targets = load_targets(path)
    first, second = select_shard(targets, "1/2"), select_shard(targets, " 2 / 2 ")
    assert first and second and len(first) + len(second) == 12
    assert [t.id for t in first] == [t.id for t in targets if t in first]
    assert select_shard(targets, "") == targets


@pytest.mark.crawl  # it runs `scanner scan` (which stops before crawling)
def test_scan_refuses_a_bad_shard_with_one_line(tmp_path):
    path = write_targets(tmp_path / "t.yaml", {"id": "a", "name": "A", "audience": "general",
                                               "homepage": "https://a.example/"})
    result = invoke("scan", path, "--db", tmp_path / "r.db", "--shard", "3/2")
    assert result.exit_code == 2
    assert "Invalid value for '--shard': shard '3/2': I must be between 1 and N" in result.output
    assert not (tmp_path / "r.db").exists()
