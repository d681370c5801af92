"""The whole path on the demo sites: targets -> crawl -> rules -> SQLite -> scores."""

import sqlite_utils


def scores(db):
    return {r["target_id"]: r for r in db["scores"].rows}


def test_scan_stores_one_complete_scan(demo_scan_db):
    db = sqlite_utils.Database(demo_scan_db)
    scans = list(db["scans"].rows)
    assert len(scans) == 1
    assert scans[0]["status"] == "complete"
    assert scans[0]["finished_at"]
    assert len(scans[0]["rules_version"]) == 12


def test_unreachable_target_is_unreachable_not_clean(demo_scan_db):
    row = scores(sqlite_utils.Database(demo_scan_db))["lost-lagoon"]
    assert row["status"] == "unreachable"
    assert row["grade"] is None and row["score"] is None
    assert "refused" in row["explanation"].lower()


def test_selling_and_tracking_apps_grade_worse_than_clean(demo_scan_db):
    s = scores(sqlite_utils.Database(demo_scan_db))
    assert s["happy-hippo"]["status"] == "scored"
    assert s["happy-hippo"]["grade"] in ("A", "B")
    for worse in ("pixel-pals", "tiny-tunes-tv"):
        assert s[worse]["score"] > s["happy-hippo"]["score"] + 30, worse


def test_no_policy_site_is_marked_no_policy(demo_scan_db):
    assert scores(sqlite_utils.Database(demo_scan_db))["jungle-jumpers"]["status"] == "no_policy"


def test_pdf_and_thai_policies_are_stored_as_documents(demo_scan_db):
    db = sqlite_utils.Database(demo_scan_db)
    docs = {
        r[0]: (r[1], r[2], r[3])
        for r in db.execute(
            """SELECT f.target_id, d.content_type, d.lang, d.text FROM fetches f
               JOIN documents d ON d.id = f.document_id WHERE f.kind = 'policy'"""
        ).fetchall()
    }
    assert "pdf" in docs["star-scribes"][0]
    assert "student" in docs["star-scribes"][2]
    assert docs["dek-dee-thai"][1] == "th"
    assert "นโยบายความเป็นส่วนตัว" in docs["dek-dee-thai"][2]


def test_findings_keep_their_evidence_and_offsets(demo_scan_db):
    db = sqlite_utils.Database(demo_scan_db)
    rows = db.execute(
        """SELECT f.evidence, f.start, f."end", d.text FROM findings f
           JOIN documents d ON d.id = f.document_id
           WHERE f.target_id = 'pixel-pals' AND f.category = 'sale' AND f.polarity = 'risk'"""
    ).fetchall()
    assert rows, "the selling app's policy must raise a sale risk"
    for evidence, start, end, text in rows:
        assert text[start:end] == evidence
        assert "sell" in evidence


def test_trackers_are_recorded_with_entities(demo_scan_db):
    db = sqlite_utils.Database(demo_scan_db)
    rows = {(r["domain"], r["entity"]) for r in db["third_parties"].rows_where("target_id = 'tiny-tunes-tv'")}
    assert ("googletagmanager.com", "Google") in rows
    assert ("facebook.net", "Meta") in rows
    clean = db["third_parties"].count_where("target_id = 'happy-hippo'")
    assert clean == 0


def test_views_answer_per_target(demo_scan_db):
    db = sqlite_utils.Database(demo_scan_db)
    risk = {r["target_id"]: r for r in db["target_risk"].rows}
    assert set(risk) >= {"happy-hippo", "pixel-pals", "lost-lagoon"}
    assert db["latest_findings"].count > 0


def _fingerprint(db, target_id):
    return sorted(db.execute(
        "SELECT source, rule_id, polarity, evidence FROM findings WHERE target_id = ?",
        [target_id]).fetchall())


def test_demo_targets_with_different_findings_never_tie(demo_scan_db):
    db = sqlite_utils.Database(demo_scan_db)
    graded = [r for r in db["scores"].rows if r["score"] is not None]
    assert len(graded) == 6
    for i, a in enumerate(graded):
        for b in graded[i + 1:]:
            if _fingerprint(db, a["target_id"]) != _fingerprint(db, b["target_id"]):
                assert a["score"] != b["score"], (a["target_id"], b["target_id"])


def test_removing_a_tracker_from_the_worst_demo_target_lowers_its_score(demo_scan_db):
    from scanner.scoring import explain, target_findings, tracker_rules

    db = sqlite_utils.Database(demo_scan_db)
    worst = max((r for r in db["scores"].rows if r["score"] is not None), key=lambda r: r["score"])
    assert worst["target_id"] == "tiny-tunes-tv" and worst["grade"] == "F"
    rows = target_findings(db, worst["scan_id"], "tiny-tunes-tv")
    requests = tracker_rules(db, worst["scan_id"], "tiny-tunes-tv")
    explanation = explain(rows, child_directed=True, tracker_rules=requests)
    stored = explanation["score"]
    assert stored == worst["score"]
    # Each "ad tracker on a child-directed site" cross-check is one fact with its tracker.
    merged = [c["rules"] for c in explanation["contributions"]
              if "crosscheck.child-directed-ad-tracker" in c["rules"]]
    assert len(merged) == 3 and all(any(r.startswith("curated:") for r in m) for m in merged)
    # TikTok's pixel gone: its tracker finding and the cross-checks about it go with it.
    without = [r for r in rows if "tiktok" not in (r["evidence"] or "").lower()]
    assert len(without) < len(rows)
    assert explain(without, child_directed=True, tracker_rules=requests)["score"] < stored
