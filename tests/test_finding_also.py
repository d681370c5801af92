"""The rules merged into a policy finding (engine.one_per_category, `Finding.also`) are stored
(m015_finding_also: document_findings.also, the findings view), shown by every report format,
carried by `scanner merge` and case files; a database made before m015 migrates and reads."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from scrapy.settings import Settings

from appdb import finish
from reports import render_report
from scanner import store
from scanner.evidence import build_case_file
from scanner.items import FetchItem
from scanner.matching import classify
from scanner.merge import merge_shards
from scanner.pipelines import StorePipeline, findings_version
from scanner.store_writer import policy_rules
from scanner.rules_record import add_rules, policy_rule_rows
from scanner.targets import Target

# One sentence several sharing rules fire on (tests/test_one_finding.py): the named recipient
# stands, the generic rules are merged into it.
SHARING = "We may share your personal information with advertisers, service providers and our affiliates."
POLICY = f"{SHARING} Parents may ask us to delete their child's data."
POLICY_URL = "https://kids.example/privacy"
TARGET = Target(id="kids", name="Kids Club", audience="child-directed",
                homepage="https://kids.example/")


class Stats:
    def inc_value(self, key, count=1):
        pass


class Crawler:
    def __init__(self, db_path, scan_id):
        self.settings = Settings({"SCANNER_DB": str(db_path), "SCANNER_SCAN_ID": scan_id})
        self.stats = Stats()


def scanned(db_path, text=POLICY) -> int:
    """A finished scan of TARGET whose policy fetch went through the item pipeline."""
    db = store.open_db(db_path)
    scan_id = store.start_scan(db, rules_version="test", targets_file="t.yaml", options={})
    store.upsert_targets(db, [TARGET], scan_id)
    with db.conn:  # the rules the scan judged with, as `scanner scan` records them
        add_rules(db, scan_id, policy_rule_rows())
    db.close()
    pipeline = StorePipeline(Crawler(db_path, scan_id))
    pipeline.open_spider()
    pipeline.process_item(FetchItem(target_id=TARGET.id, url=POLICY_URL, final_url=POLICY_URL,
                                    kind="policy", status=200, text=text, lang="en",
                                    content_type="text/html", title="Privacy"))
    pipeline.close_spider()
    db = store.open_db(db_path)
    store.mark_targets(db, scan_id, [TARGET.id], "done")
    finish(db, scan_id, [TARGET])
    db.close()
    return scan_id


def sharing_risks(db, scan_id) -> list[dict]:
    return [dict(r) for r in db.query(
        "SELECT * FROM findings WHERE scan_id = ? AND source = 'policy' AND polarity = 'risk' "
        "AND category = 'third_party_sharing' ORDER BY id", [scan_id])]


def expected_also() -> list[str]:
    (finding,) = [f for f in classify(SHARING, policy_rules(), lang="en")
                  if f.polarity == "risk" and f.category == "third_party_sharing"]
    assert len(finding.also) >= 3  # the sentence does fire several rules of one category
    return list(finding.also)


def test_one_stored_finding_per_sentence_and_category_keeps_the_other_rules(tmp_path):
    db_path = tmp_path / "s.db"
    scan_id = scanned(db_path)
    db = store.open_db(db_path)
    (finding,) = sharing_risks(db, scan_id)
    assert finding["rule_id"] == "third_party_sharing.advertisers"
    assert json.loads(finding["also"]) == expected_also()
    assert {"third_party_sharing.service-providers", "third_party_sharing.affiliates"} \
        <= set(json.loads(finding["also"]))
    # a finding nothing was merged into stores [], not null (null: stored before m015)
    others = db.execute("SELECT also FROM document_findings WHERE rule_id != ?",
                        [finding["rule_id"]]).fetchall()
    assert others and all(json.loads(a) == [] for (a,) in others)
    # the latest_findings view (on findings) shows it too
    latest = db.execute("SELECT also FROM latest_findings WHERE id = ?", [finding["id"]]).fetchone()
    assert json.loads(latest[0]) == expected_also()


def test_every_report_format_shows_the_rules_also_matched(tmp_path):
    db_path = tmp_path / "s.db"
    scan_id = scanned(db_path)
    db = store.open_db(db_path)
    also = expected_also()

    data = json.loads(render_report(db, scan_id, "json"))
    (target,) = data["targets"]
    by_rule = {f["rule_id"]: f for f in target["findings"] if f["polarity"] == "risk"}
    assert by_rule["third_party_sharing.advertisers"]["also"] == also
    assert all(f["also"] == [] for rule, f in by_rule.items()
               if rule != "third_party_sharing.advertisers")

    text = render_report(db, scan_id, "csv")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    row = next(r for r in rows if r["rule_id"] == "third_party_sharing.advertisers")
    assert row["also_matched"] == "; ".join(also)
    assert all(r["also_matched"] == "" for r in rows if r is not row)

    md = render_report(db, scan_id, "md")
    line = next(line for line in md.splitlines() if "`third_party_sharing.advertisers`" in line
                and line.startswith("|"))
    assert "(also matched: " + ", ".join(f"`{r}`" for r in also) + ")" in line.replace("\\", "")

    html = render_report(db, scan_id, "html")
    assert ("also matched: " + ", ".join(f"<code>{r}</code>" for r in also)) in html
    assert html.count("also matched:") == 1


def database_before_m015(db_path) -> tuple[int, str]:
    """A scan of TARGET as a scanner before m015 stored it: (scan id, its findings_version)."""
    db = store.sqlite_utils.Database(db_path)
    store.migrations.apply(db, stop_before="m015_finding_also")
    assert "also" not in db["document_findings"].columns_dict
    scan_id = store.start_scan(db, rules_version="old", targets_file="t.yaml", options={})
    store.upsert_targets(db, [TARGET], scan_id)
    document_id, _ = store.store_document(db, text=POLICY, content_type="text/html", lang="en",
                                          title="Privacy", scan_id=scan_id, url=POLICY_URL)
    old_version = findings_version().replace("+also", "", 1)  # as a scanner before m015 named it
    assert old_version != findings_version()
    findings = classify(POLICY, policy_rules(), lang="en")
    db["document_findings"].insert_all([
        {"document_id": document_id, "findings_version": old_version, "n": n,
         "rule_id": f.rule_id, "category": f.category, "practice": f.practice,
         "severity": f.severity, "polarity": f.polarity, "data_types": json.dumps(f.data_types),
         "evidence": f.evidence, "start": f.start, "end": f.end}
        for n, f in enumerate(findings)])
    db["fetch_rows"].insert({"scan_id": scan_id, "target_id": TARGET.id, "url": POLICY_URL,
                             "final_url": POLICY_URL, "kind": "policy", "status": 200,
                             "document_id": document_id, "findings_version": old_version})
    finish(db, scan_id, [TARGET])
    db.close()
    return scan_id, old_version


def test_a_database_made_before_m015_migrates_and_reads(tmp_path):
    db_path = tmp_path / "old.db"
    scan_id, old_version = database_before_m015(db_path)

    db = store.open_db(db_path)  # migrates
    assert "also" in db["document_findings"].columns_dict
    (old,) = sharing_risks(db, scan_id)
    assert old["also"] is None
    data = json.loads(render_report(db, scan_id, "json"))
    assert all(f["also"] == [] for f in data["targets"][0]["findings"])
    assert "also matched" not in render_report(db, scan_id, "html")
    db.close()

    # the same policy scanned again: its findings are stored anew, with `also`, not reused
    new_scan = scanned(db_path)
    db = store.open_db(db_path)
    (new,) = sharing_risks(db, new_scan)
    assert json.loads(new["also"]) == expected_also()
    assert sharing_risks(db, scan_id) == [old]
    versions = {r[0] for r in db.execute("SELECT DISTINCT findings_version FROM document_findings")}
    assert versions == {old_version, findings_version()}


def test_an_archive_made_before_m015_is_read_without_migrating_it(tmp_path, monkeypatch):
    db_path = tmp_path / "old.db"
    scan_id, _ = database_before_m015(db_path)
    monkeypatch.setattr(store, "is_writable", lambda path: False)
    db = store.open_for_reading(db_path)
    assert "m015_finding_also" in store.pending_migrations(db)
    assert "also" not in db["document_findings"].columns_dict  # left as it was
    data = json.loads(render_report(db, scan_id, "json"))
    risks = [f for f in data["targets"][0]["findings"] if f["polarity"] == "risk"]
    assert risks and all(f["also"] == [] for f in risks)
    assert "also_matched" in render_report(db, scan_id, "csv").splitlines()[0]


def test_merge_and_case_files_carry_the_merged_rules(tmp_path):
    shard = tmp_path / "shard.db"
    scanned(shard)
    merged = tmp_path / "merged.db"
    outcome = merge_shards(merged, [shard])
    assert outcome.scan_id is not None
    db = store.open_db(merged)
    (finding,) = sharing_risks(db, outcome.scan_id)
    assert json.loads(finding["also"]) == expected_also()

    out = tmp_path / "case.zip"
    build_case_file(db, merged, outcome.scan_id, TARGET.id, out, pdf=False)
    with zipfile.ZipFile(out) as case:
        names = case.namelist()
        findings = json.loads(case.read(next(n for n in names if n.endswith("findings.json"))))
        rules = json.loads(case.read(next(n for n in names if n.endswith("rules.json"))))
    (in_case,) = [f for f in findings if f["id"] == finding["id"]]
    assert json.loads(in_case["also"]) == expected_also()
    # the merged rules are among the rules behind the findings, with what each one finds
    assert set(expected_also()) <= {r["id"] for r in rules}
