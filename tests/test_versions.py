"""Policy versions: one document per distinct text; re-scans reuse it or add a new version."""

import pytest
import sqlite_utils

from helpers import run_cli, write_targets
from scanner import store

pytestmark = pytest.mark.crawl


def policy_page(paragraph):
    return (f"<html><head><title>Privacy Policy</title></head><body>"
            f"<header><nav><a href='/'>Home</a></nav></header>"
            f"<main><h1>Privacy Policy</h1><p>{paragraph}</p></main>"
            f"<footer>Visitors today: {{counter}}</footer></body></html>")


def test_rescans_store_new_versions_only_when_the_text_changes(loopback_site, tmp_path):
    site = loopback_site({
        "/": "<html><body><footer><a href='/privacy'>Privacy Policy</a></footer></body></html>",
        "/privacy": policy_page("We collect your child's nickname.").format(counter=1),
    })
    targets_file = write_targets(tmp_path / "targets.yaml", {
        "id": "versions", "name": "Versions", "audience": "child-directed", "homepage": site.url + "/"})
    db_path = tmp_path / "results.db"

    def scan():
        run_cli("scan", targets_file, "--db", db_path, "--allow-private")
        db = sqlite_utils.Database(db_path)
        scan_id = store.latest_scan_id(db)
        [(document_id,)] = db.execute(
            "SELECT document_id FROM fetches WHERE kind = 'policy' AND scan_id = ?", [scan_id]).fetchall()
        return db, scan_id, document_id

    db, first_scan, first_doc = scan()
    assert db["documents"].count == 1

    # Unchanged policy text (only the footer's counter moved): no new document.
    site.pages["/privacy"] = policy_page("We collect your child's nickname.").format(counter=2)
    db, second_scan, second_doc = scan()
    assert second_scan != first_scan
    assert second_doc == first_doc
    assert db["documents"].count == 1

    # Changed text: a new version, and the old one is still there for the older scans.
    site.pages["/privacy"] = policy_page(
        "We collect your child's nickname and precise location.").format(counter=3)
    db, third_scan, third_doc = scan()
    assert third_doc != first_doc
    assert db["documents"].count == 2
    versions = db.execute(
        """SELECT f.scan_id, d.text, d.first_seen_scan FROM fetches f
           JOIN documents d ON d.id = f.document_id
           WHERE f.kind = 'policy' AND f.url = ? ORDER BY f.scan_id""", [site.url + "/privacy"]).fetchall()
    assert [(scan_id, first_seen) for scan_id, _, first_seen in versions] == [
        (first_scan, first_scan), (second_scan, first_scan), (third_scan, third_scan)]
    assert "precise location" not in versions[0][1]
    assert "precise location" in versions[2][1]
    old = db["documents"].get(first_doc)
    assert old["sha256"] == store.text_sha256(old["text"])
    # Findings of each scan point into the version that scan saw, with exact offsets.
    for evidence, start, end, text in db.execute(
            """SELECT f.evidence, f.start, f."end", d.text FROM findings f
               JOIN documents d ON d.id = f.document_id WHERE f.source = 'policy'""").fetchall():
        assert text[start:end] == evidence
