"""The rules record's shortcut (scanner/rules_record.py `rules_key`): a rule set already made from
the same sources is named again, or its remembered rows stored, with the same rules rows."""

from __future__ import annotations

from scanner import rules_record, store


def _scan(path):
    db = store.open_db(path)
    return db, store.start_scan(db, rules_version="v", targets_file="t.yaml", options={})


def _rules(db, scan_id):
    return sorted(tuple(r.values())[1:] for r in db.query(
        "SELECT * FROM rules WHERE scan_id = ?", [scan_id]))


def test_remembered_rows_are_stored_as_the_rules_would_be(tmp_path, monkeypatch):
    db, first = _scan(tmp_path / "a.db")
    count = rules_record.record_rules(db, first)  # loads the rules, remembers the set

    def no_rules(*args, **kwargs):
        raise AssertionError("the policy rules were loaded again")

    monkeypatch.setattr(rules_record, "policy_rule_rows", no_rules)
    other, second = _scan(tmp_path / "b.db")  # a database without the set: remembered rows
    assert rules_record.record_rules(other, second) == count
    assert _rules(other, second) == _rules(db, first) and len(_rules(db, first)) == count
    third = store.start_scan(other, rules_version="v", targets_file="t.yaml", options={})
    assert rules_record.record_rules(other, third) == count  # the set is stored: named again
    assert other["rule_sets"].count == 1 and _rules(other, third) == _rules(db, first)


def test_changed_sources_are_not_taken_for_the_remembered_set(tmp_path, monkeypatch):
    db, first = _scan(tmp_path / "a.db")
    rules_record.record_rules(db, first)
    original = rules_record.code_rule_rows
    monkeypatch.setattr(rules_record, "code_rule_rows", lambda: [
        {**row, "description": "No policy."} if row["id"] == "policy.missing" else row
        for row in original()])
    second = store.start_scan(db, rules_version="v", targets_file="t.yaml", options={})
    rules_record.record_rules(db, second)
    assert db["rule_sets"].count == 2
    assert db.execute("SELECT description FROM rules WHERE scan_id = ? AND id = ?",
                      [second, "policy.missing"]).fetchone()[0] == "No policy."


def test_an_unreadable_or_foreign_cache_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("SCANNER_CACHE_DIR", str(tmp_path / "cache"))
    db, first = _scan(tmp_path / "a.db")
    count = rules_record.record_rules(db, first)
    path = rules_record._rule_sets_path()
    path.write_text("{not json", encoding="utf-8")
    other, second = _scan(tmp_path / "b.db")
    assert rules_record.record_rules(other, second) == count
    assert _rules(other, second) == _rules(db, first)
    path.chmod(0o666)  # writable by others: not read
    assert rules_record._known_sets() == {}
