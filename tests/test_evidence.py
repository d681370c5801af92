"""Evidence: raw bodies kept once by sha256 of the bytes served, headers and times per fetch, the
case file (`scanner evidence`) checked against its manifest, and the PDF report."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sqlite3
import zipfile
from pathlib import Path

import pytest

from helpers import invoke, run_cli, write_targets
from scanner import store
from scanner.browser import CHROMIUM
from scanner.evidence import (BodyProblem, body_path, check_case_file, headers_dict, read_body,
                              should_keep_body, store_body)

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                    reason="Chromium missing: `make browser` installs it")

HOMEPAGE = ("<!doctype html><html><head><title>Kite Kids</title></head><body>"
            "<h1>Kite Kids</h1><p>Games for children.</p>"
            "<a href='/privacy'>Privacy Policy</a> <a href='/about'>About us</a></body></html>")
POLICY = ("<!doctype html><html><head><title>Privacy Policy</title></head><body><h1>Privacy Policy</h1>"
          + "".join(f"<p>Section {n}. We collect your child's name and email address to run the "
                    "service. We may share personal information with advertising partners.</p>"
                    for n in range(1, 6))
          + "</body></html>")
ABOUT = "<!doctype html><html><body><h1>About</h1><p>A small studio.</p></body></html>"
OTHER = "<!doctype html><html><body><p>Other site, sent gzip-encoded, no links.</p></body></html>"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rows(db_path, sql, params=()):
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, params)]


def body_files(db_path) -> dict[str, float]:
    folder = Path(f"{db_path}.evidence") / "bodies"
    return {str(p): p.stat().st_mtime_ns for p in sorted(folder.rglob("*.gz"))}


# ---- without a crawl -------------------------------------------------------------------------

def test_body_is_stored_once_and_read_back(db, db_path):
    data = "<html>ลูกค้า</html>".encode("utf-8")
    first = store_body(db, db_path, data, content_type="text/html", scan_id=1, url="http://a/")
    second = store_body(db, db_path, data, content_type="text/html", scan_id=2, url="http://b/")
    assert first == second == {"raw_sha256": sha256(data), "raw_size": len(data)}
    assert db["bodies"].count == 1
    row = db["bodies"].get(sha256(data))
    assert row["first_seen_scan"] == 1 and row["compression"] == "gzip"
    assert not Path(row["path"]).is_absolute()  # relative: the database moves with its folder
    assert read_body(db_path, row) == data
    assert gzip.decompress(body_path(db_path, sha256(data)).read_bytes()) == data


def test_changed_missing_and_corrupt_bodies_are_refused(db, db_path):
    data = b"<html>original</html>"
    store_body(db, db_path, data, content_type="text/html", scan_id=1, url="http://a/")
    row = db["bodies"].get(sha256(data))
    path = body_path(db_path, sha256(data))
    path.write_bytes(gzip.compress(b"<html>edited</html>"))
    with pytest.raises(BodyProblem, match="changed"):
        read_body(db_path, row)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(BodyProblem, match="unreadable"):
        read_body(db_path, row)
    path.unlink()
    with pytest.raises(BodyProblem, match="missing"):
        read_body(db_path, row)


def test_whose_bodies_are_kept_and_headers_as_json():
    assert should_keep_body("policy", "footer-link")
    assert should_keep_body("page", "homepage")
    assert not should_keep_body("page", "link")
    from scrapy.http import Headers

    headers = Headers({"Content-Type": "text/html", "Set-Cookie": ["a=1", "b=2"]})
    assert headers_dict(headers) == {"Content-Type": ["text/html"], "Set-Cookie": ["a=1", "b=2"]}


# ---- a scan of loopback sites, then the case file -------------------------------------------

@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """Two sites scanned twice (the second scan has only the first site), unchanged between."""
    from helpers import LoopbackSite

    kite = LoopbackSite({"/": HOMEPAGE, "/privacy": POLICY, "/about": ABOUT})
    # A policy over DOWNLOAD_MAXSIZE (10 MB): cancelled by Scrapy, so never kept.
    other = LoopbackSite({"/": (200, {"Content-Encoding": "gzip"}, gzip.compress(OTHER.encode())),
                          "/huge-policy": b"<html><body>" + b"x" * (11 * 1024 * 1024)})
    folder = tmp_path_factory.mktemp("evidence")
    db_path = folder / "results.db"
    both = write_targets(folder / "both.yaml",
                         {"id": "kite-kids", "name": "Kite Kids", "audience": "child-directed",
                          "homepage": kite.url + "/"},
                         {"id": "other-site", "name": "Other Site", "audience": "general",
                          "homepage": other.url + "/", "policy_urls": [other.url + "/huge-policy"]})
    only_kite = write_targets(folder / "kite.yaml",
                              {"id": "kite-kids", "name": "Kite Kids",
                               "audience": "child-directed", "homepage": kite.url + "/"})
    try:
        run_cli("scan", both, "--db", db_path, "--allow-private", "--max-pages", 3)
        files_after_first = body_files(db_path)
        bodies_after_first = rows(db_path, "SELECT * FROM bodies ORDER BY sha256")
        run_cli("scan", only_kite, "--db", db_path, "--allow-private", "--max-pages", 3)
    finally:
        kite.close()
        other.close()
    yield {"db": db_path, "files_after_first": files_after_first,
           "bodies_after_first": bodies_after_first, "folder": folder}


@pytest.mark.crawl
def test_raw_bodies_are_the_bytes_the_server_sent(scanned):
    fetches = rows(scanned["db"], "SELECT * FROM fetches WHERE scan_id = 1 AND target_id = 'kite-kids'")
    by_path = {f["final_url"].split("/", 3)[3]: f for f in fetches if f["raw_sha256"]}
    homepage = next(f for f in fetches if f["discovered_by"] == "homepage" and f["raw_sha256"])
    assert homepage["raw_sha256"] == sha256(HOMEPAGE.encode())
    assert homepage["raw_size"] == len(HOMEPAGE.encode())
    assert by_path["privacy"]["raw_sha256"] == sha256(POLICY.encode())
    assert by_path["privacy"]["kind"] == "policy"
    # Other same-site pages are not kept: only homepages and policies.
    about = [f for f in fetches if f["final_url"].endswith("/about")]
    assert about and all(f["raw_sha256"] is None for f in about)


@pytest.mark.crawl
def test_a_gzip_encoded_page_is_kept_as_the_page_itself(scanned):
    homepage = rows(scanned["db"], """SELECT * FROM fetches WHERE target_id = 'other-site'
                    AND discovered_by = 'homepage' AND raw_sha256 IS NOT NULL""")
    assert homepage and {f["raw_sha256"] for f in homepage} == {sha256(OTHER.encode())}
    # The headers are those received: they say the transfer was gzip-encoded.
    assert all(json.loads(f["response_headers"])["Content-Encoding"] == ["gzip"] for f in homepage)


@pytest.mark.crawl
def test_a_body_over_the_size_limit_is_not_kept(scanned):
    huge = rows(scanned["db"], "SELECT * FROM fetches WHERE url LIKE '%/huge-policy'")
    assert len(huge) == 1 and huge[0]["error"] and huge[0]["raw_sha256"] is None
    assert max(r["size"] for r in rows(scanned["db"], "SELECT size FROM bodies")) < 10 * 1024 * 1024


@pytest.mark.crawl
def test_headers_and_times_are_recorded_per_fetch(scanned):
    fetches = rows(scanned["db"], "SELECT * FROM fetches WHERE scan_id = 1 AND status = 200")
    assert fetches
    for fetch in fetches:
        request, response = json.loads(fetch["request_headers"]), json.loads(fetch["response_headers"])
        assert "User-Agent" in request, fetch["url"]
        assert response["Content-Type"] == ["text/html; charset=utf-8"], fetch["url"]
        assert fetch["request_sent_at"] <= fetch["response_received_at"], fetch["url"]
        assert fetch["request_sent_at"].endswith("+00:00")


@pytest.mark.crawl
def test_second_scan_of_unchanged_site_stores_no_new_body(scanned):
    db_path = scanned["db"]
    assert scanned["files_after_first"], "the first scan kept no body"
    assert body_files(db_path) == scanned["files_after_first"]  # same files, none rewritten
    assert rows(db_path, "SELECT * FROM bodies ORDER BY sha256") == scanned["bodies_after_first"]
    first = {r["raw_sha256"] for r in rows(
        db_path, "SELECT raw_sha256 FROM fetches WHERE scan_id = 1 AND target_id = 'kite-kids'")}
    second = {r["raw_sha256"] for r in rows(
        db_path, "SELECT raw_sha256 FROM fetches WHERE scan_id = 2 AND target_id = 'kite-kids'")}
    assert second == first and len(second - {None}) == 2


@pytest.mark.crawl
def test_case_file_matches_its_manifest(scanned, tmp_path):
    out = tmp_path / "kite.zip"
    result = invoke("evidence", "--db", scanned["db"], "--target", "kite-kids", "--scan", "2",
                    "--no-pdf", "-o", out)
    assert result.exit_code == 0, result.output
    last_line = result.output.strip().splitlines()[-1]
    assert last_line == f"sha256 {sha256(out.read_bytes())}  {out}"
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        members = {name: archive.read(name) for name in names}
    assert names[-1] == "manifest.json" and names[:-1] == sorted(names[:-1])
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(listed) == set(names) - {"manifest.json"}
    for name, entry in listed.items():
        assert sha256(members[name]) == entry["sha256"] and len(members[name]) == entry["size"], name
    assert check_case_file(out) == []
    # The bodies inside are the served bytes, named by their sha256.
    assert members[f"bodies/{sha256(HOMEPAGE.encode())}.html"] == HOMEPAGE.encode()
    assert members[f"bodies/{sha256(POLICY.encode())}.html"] == POLICY.encode()
    assert "Kite Kids" in members["report/report.html"].decode()
    scan = rows(scanned["db"], "SELECT * FROM scans WHERE id = 2")[0]
    assert manifest["scan"]["id"] == 2 and manifest["scan"]["status"] == scan["status"]
    assert manifest["scan"]["started_at"] == scan["started_at"]
    assert manifest["scan"]["finished_at"] == scan["finished_at"]
    assert manifest["rules_version"] == scan["rules_version"]
    assert manifest["tool_version"] == scan["tool_version"]
    assert manifest["target"]["id"] == "kite-kids" and manifest["target"]["name"] == "Kite Kids"
    assert [t["name"] for t in manifest["tracker_lists"]] == [r["name"] for r in rows(
        scanned["db"], "SELECT name FROM tracker_lists WHERE scan_id = 2 ORDER BY load_order, name")]
    assert manifest["made_at"] and manifest["problems"] == []
    fetches = json.loads(members["fetches.json"])
    assert {f["scan_id"] for f in fetches} == {2}
    homepage = next(f for f in fetches if f.get("body_file", "").endswith(
        f"{sha256(HOMEPAGE.encode())}.html"))
    assert "User-Agent" in homepage["request_headers"] and homepage["response_received_at"]
    findings = json.loads(members["findings.json"])
    assert findings and {f["target_id"] for f in findings} == {"kite-kids"}


@pytest.mark.crawl
def test_case_file_errors_are_one_line(scanned, tmp_path):
    out = tmp_path / "x.zip"
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("case notes, not a database\n")
    cases = [
        (("--db", tmp_path / "missing.db", "--target", "kite-kids"), "no such database"),
        (("--db", not_a_db, "--target", "kite-kids"), "not a SQLite database"),
        (("--db", scanned["db"], "--target", "nobody"), "no target 'nobody'"),
        (("--db", scanned["db"], "--target", "kite-kids", "--scan", "99"), "no scan with id 99"),
        (("--db", scanned["db"], "--target", "other-site", "--scan", "2"),
         "target 'other-site' is not in scan 2"),
    ]
    (tmp_path / "a-file").write_text("")
    result = invoke("evidence", "--db", scanned["db"], "--target", "kite-kids", "--no-pdf",
                    "-o", tmp_path / "a-file" / "case.zip")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert "a-file/case.zip" in result.output
    for args, message in cases:
        result = invoke("evidence", *args, "--no-pdf", "-o", out)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.output)
    assert not out.exists()


@pytest.mark.crawl
def test_tampered_body_is_reported_not_used(scanned, tmp_path):
    # A copy of the database and its evidence folder: moved together, and tampered there.
    import shutil

    folder = tmp_path / "moved"
    folder.mkdir()
    db_path = folder / "results.db"
    with sqlite3.connect(scanned["db"]) as source, sqlite3.connect(db_path) as copy:
        source.backup(copy)
    shutil.copytree(f"{scanned['db']}.evidence", f"{db_path}.evidence")
    policy_sha = sha256(POLICY.encode())
    body_path(db_path, policy_sha).write_bytes(gzip.compress(POLICY.replace("may share",
                                                                            "never share").encode()))
    out = tmp_path / "case.zip"
    result = invoke("evidence", "--db", db_path, "--target", "kite-kids", "--no-pdf", "-o", out)
    assert result.exit_code == 1, result.output
    assert "stored body changed: its sha256 is" in result.output and policy_sha in result.output
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = archive.namelist()
    assert f"bodies/{policy_sha}.html" not in names
    assert f"bodies/{sha256(HOMEPAGE.encode())}.html" in names  # the intact one, from the moved folder
    assert [p["sha256"] for p in manifest["problems"]] == [policy_sha]
    assert check_case_file(out) == []


@pytest.mark.crawl
def test_screenshots_and_har_are_packed_and_checked(scanned, tmp_path):
    from scanner.browser import save_artifact

    db_path = tmp_path / "results.db"
    with sqlite3.connect(scanned["db"]) as source, sqlite3.connect(db_path) as copy:
        source.backup(copy)
    png, har = b"\x89PNG\r\n\x1a\n a screenshot", b'{"log": {"entries": []}}'
    db = store.open_db(db_path)
    for kind, data, suffix in (("screenshot", png, ".png"), ("har", har, ".har")):
        db["browser_artifacts"].insert({"scan_id": 2, "target_id": "kite-kids",
                                        "page_url": "http://127.0.0.1/",
                                        **save_artifact(db_path, kind, data, suffix)})
    db.close()
    out = tmp_path / "case.zip"
    result = invoke("evidence", "--db", db_path, "--target", "kite-kids", "--no-pdf", "-o", out)
    # The bodies were not copied with this database: reported missing, each once, not packed.
    assert result.exit_code == 1 and "stored body is missing" in result.output
    assert result.output.count("stored body is missing") == 2  # the homepage and the policy
    with zipfile.ZipFile(out) as archive:
        assert archive.read(f"screenshots/{sha256(png)}.png") == png
        assert archive.read(f"har/{sha256(har)}.har") == har
    assert check_case_file(out) == []
    (Path(f"{db_path}.evidence") / "har" / f"{sha256(har)}.har").write_bytes(b"{}")
    result = invoke("evidence", "--db", db_path, "--target", "kite-kids", "--no-pdf", "-o", out)
    assert result.exit_code == 1 and "har changed since it was stored" in result.output
    with zipfile.ZipFile(out) as archive:
        assert f"har/{sha256(har)}.har" not in archive.namelist()
        assert f"screenshots/{sha256(png)}.png" in archive.namelist()


def can_mount_read_only() -> bool:
    import shutil
    import subprocess

    return bool(shutil.which("unshare")) and subprocess.run(
        ["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.crawl
@pytest.mark.skipif(not can_mount_read_only(), reason="needs unshare -m (root) for a read-only mount")
def test_case_file_from_a_database_on_read_only_media(scanned, tmp_path):
    """Root ignores permission bits: the database and its evidence folder sit on a read-only
    bind mount in a mount namespace of their own; the case file is whole, nothing is written."""
    import os
    import shutil
    import subprocess
    import sys

    from helpers import ROOT

    archive = tmp_path / "archive"
    archive.mkdir()
    with sqlite3.connect(scanned["db"]) as source, sqlite3.connect(archive / "results.db") as copy:
        source.backup(copy)
    shutil.copytree(f"{scanned['db']}.evidence", archive / "results.db.evidence")
    before = sorted(str(p.relative_to(archive)) for p in archive.rglob("*"))
    out = tmp_path / "case.zip"
    script = ('set -e; mount --bind "$DIR" "$DIR"; mount -o remount,bind,ro "$DIR"; '
              'if touch "$DIR/probe" 2>/dev/null; then exit 9; fi; '
              '"$PY" -m scanner.cli evidence --db "$DIR/results.db" --target kite-kids --no-pdf '
              '-o "$OUT"')
    env = {**os.environ, "DIR": str(archive), "OUT": str(out), "PY": sys.executable,
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert check_case_file(out) == []
    with zipfile.ZipFile(out) as archive_zip:
        assert archive_zip.read(f"bodies/{sha256(POLICY.encode())}.html") == POLICY.encode()
    assert sorted(str(p.relative_to(archive)) for p in archive.rglob("*")) == before


# ---- PDF (the demo scan) ---------------------------------------------------------------------

def pdf_text(data: bytes) -> str:
    """The PDF's text, whitespace collapsed, ligatures (the 'ffl' of 'offline') undone."""
    import unicodedata

    from pypdf import PdfReader

    text = " ".join((page.extract_text() or "") for page in PdfReader(io.BytesIO(data)).pages)
    return " ".join(unicodedata.normalize("NFKC", text).split())


@needs_chromium
def test_pdf_report_of_demo_scan_names_targets_and_findings(demo_scan_db, tmp_path):
    out = tmp_path / "report.pdf"
    result = invoke("report", "--db", demo_scan_db, "--format", "pdf", "-o", out)
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    names = [r["name"] for r in rows(demo_scan_db, """SELECT t.name FROM targets t JOIN scores s
             ON s.target_id = t.id WHERE s.scan_id = (SELECT MAX(id) FROM scans)""")]
    assert len(names) >= 5
    for name in names:
        assert name in text, name
    # A policy finding: its rule id as the report prints it.
    rule_ids = {r["rule_id"] for r in rows(demo_scan_db, """SELECT DISTINCT rule_id FROM findings
                WHERE source = 'policy' AND polarity = 'risk'""")}
    assert any(rule_id in text.replace(" ", "") for rule_id in rule_ids)


@needs_chromium
def test_case_file_of_demo_target_holds_html_and_pdf(demo_scan_db, tmp_path):
    out = tmp_path / "case.zip"
    target = rows(demo_scan_db, """SELECT target_id FROM scores WHERE status = 'scored'
                  ORDER BY score DESC LIMIT 1""")[0]["target_id"]
    result = invoke("evidence", "--db", demo_scan_db, "--target", target, "-o", out)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        pdf = archive.read("report/report.pdf")
        html = archive.read("report/report.html").decode()
        manifest = json.loads(archive.read("manifest.json"))
    assert pdf.startswith(b"%PDF")
    name = manifest["target"]["name"]
    assert name in html and name in pdf_text(pdf)
    assert any(p.startswith("bodies/") for p in (f["path"] for f in manifest["files"]))
    assert check_case_file(out) == []


def test_pdf_without_chromium_is_one_line(monkeypatch, tmp_path):
    import reports.pdf

    from scanner.store import open_db

    db_path = tmp_path / "r.db"
    db = open_db(db_path)
    scan_id = store.start_scan(db, rules_version="x", targets_file="t.yaml", options={})
    store.finish_scan(db, scan_id)
    monkeypatch.setattr(reports.pdf, "CHROMIUM", str(tmp_path / "no-chromium"))
    result = invoke("report", "--db", db_path, "--format", "pdf", "-o", tmp_path / "r.pdf")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "make browser" in lines[0] and "no-chromium" in lines[0]
    assert not (tmp_path / "r.pdf").exists()
