"""bench/label_agreement.py: the agreement arithmetic (Cohen's kappa, the confusion with nulls
apart), the tuning-only sample and the ids a file shows, on small hand-made examples."""

from __future__ import annotations

import importlib.util
import json
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("label_agreement", ROOT / "bench" / "label_agreement.py")
label_agreement = importlib.util.module_from_spec(spec)
spec.loader.exec_module(label_agreement)


def test_kappa_of_a_hand_worked_example():
    # 10 items, 8 agree (p_o = 0.8); each rater says true 3 times (p_e = .3*.3 + .7*.7 = 0.58):
    # kappa = (0.8 - 0.58) / (1 - 0.58) = 11/21.
    a = [True, True, False, False, False, False, True, False, False, False]
    b = [True, False, False, False, False, False, True, True, False, False]
    assert label_agreement.cohen_kappa(zip(a, b, strict=True)) == pytest.approx(11 / 21)


def test_kappa_limits():
    assert label_agreement.cohen_kappa([(True, True), (False, False)]) == pytest.approx(1.0)
    assert label_agreement.cohen_kappa([(True, False), (False, True)]) == pytest.approx(-1.0)
    # both raters say false throughout: chance agreement is 1, kappa undefined
    assert label_agreement.cohen_kappa([(False, False)] * 5) is None
    assert label_agreement.cohen_kappa([]) is None


def test_compare_counts_nulls_apart():
    pairs = [(True, True), (True, False), (False, False), (False, False), (None, True),
             (False, None), (None, None)]
    s = label_agreement.compare_category(pairs)
    assert (s["n"], s["tt"], s["tf"], s["ft"], s["ff"]) == (4, 1, 1, 0, 2)
    assert (s["null_stored"], s["null_relabel"], s["null_both"]) == (1, 1, 1)
    assert s["agreement"] == pytest.approx(0.75)
    # p_o 0.75; stored true 2/4, relabel true 1/4: p_e = .5*.25 + .5*.75 = 0.5 -> kappa 0.5
    assert s["kappa"] == pytest.approx(0.5)


def test_sample_is_seeded_tuning_only_and_skips_excluded_ids():
    policies = [f"policy{n}" for n in range(12)]
    records = [{"id": f"set-x-{n}", "policy": policies[n % 12]} for n in range(120)]
    first = label_agreement.sample("set-x", records, 30)
    assert first == label_agreement.sample("set-x", records, 30)
    assert len(first) == 30
    assert not any(zlib.crc32(r["policy"].encode()) % 3 == 0 for r in first)
    assert [r["id"] for r in first] == sorted((r["id"] for r in first),
                                              key=lambda i: int(i.rsplit("-", 1)[1]))
    excluded = frozenset(r["id"] for r in first[:10])
    again = label_agreement.sample("set-x", records, 30, exclude=excluded)
    assert not excluded & {r["id"] for r in again}


def test_mentioned_ids_reads_full_short_and_listed_ids(tmp_path):
    doc = tmp_path / "AGREEMENT.md"
    doc.write_text("| real-extra-e-213 | false | true |\n\nLeft as they were: (-399; -349).\n\n"
                   "Second labels: real-extra-d: 19:TFFFF 22:TTFFF\n- th-extra: 8:FFFFF\n",
                   encoding="utf-8")
    ids = label_agreement.mentioned_ids(doc)
    assert {"real-extra-e-213", "real-extra-e-399", "real-extra-e-349", "real-extra-d-19",
            "real-extra-d-22", "th-extra-8"} <= ids
    assert label_agreement.set_of("rdev-12") == "real-dev"
    assert label_agreement.set_of("th-extra-b-3") == "th-extra-b"


def test_compare_refuses_a_labels_file_with_text(tmp_path, capsys):
    path = tmp_path / "relabel.jsonl"
    labels = dict.fromkeys(label_agreement.CATEGORIES, False)
    path.write_text(json.dumps({"id": "rdev-1", "labels": labels, "text": "policy text"}) + "\n",
                    encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        label_agreement.main(["compare", str(path)])
    assert f"{path}:1:" in str(exc.value)
