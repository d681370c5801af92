"""The policy spider on loopback sites: what it finds, follows and stores (one scan, many sites)."""

import pytest
import sqlite_utils

from helpers import LoopbackSite, run_cli, write_targets
from scanner.demo.pdf import text_to_pdf

pytestmark = pytest.mark.crawl

THAI_POLICY = ("นโยบายความเป็นส่วนตัว\nเราเก็บรวบรวมชื่อและอายุของเด็กเพื่อให้บริการ "
               "เราจะไม่ขายข้อมูลส่วนบุคคลของเด็ก")
THAI_MISLABELLED = "นโยบายคุ้มครองข้อมูลส่วนบุคคล\nเราไม่เปิดเผยข้อมูลส่วนบุคคลของท่านแก่บุคคลภายนอก"


def page(body, title="", head="", lang="en"):
    return (f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'><title>{title}</title>"
            f"{head}</head><body>{body}</body></html>")


FURNITURE = "<header><nav><a href='/'>Home</a> <a href='/games'>Games</a></nav></header>"


def split_site(other_site_url):
    return {
        "/": page(FURNITURE + "<main><h1>Play</h1></main><footer><a href='/privacy/'>Privacy Policy</a></footer>"),
        "/privacy/": page(
            "<main><h1>Privacy Policy (1 of 3)</h1><p>We collect a parent's email address.</p>"
            "<p>See also our <a href='/privacy/children'>Children's Privacy Notice</a> and our "
            "<a href='/privacy/cookies'>Cookie Policy</a>.</p>"
            f"<p>Our video player is covered by <a href='{other_site_url}/privacy'>the player's privacy policy</a>.</p>"
            "<p><a href='/privacy/2'>Continue reading</a></p></main>", title="Privacy Policy"),
        "/privacy/2": page(
            "<main><h1>Privacy Policy (2 of 3)</h1><p>We share data with hosting providers.</p>"
            "<ul class='pagination'><li><a href='/privacy/'>1</a></li><li><a href='/privacy/3'>3</a></li></ul>"
            "</main>", title="Privacy Policy, part 2"),
        "/privacy/3": page("<main><h1>Privacy Policy (3 of 3)</h1><p>You may ask us to delete "
                           "personal information.</p></main>", title="Privacy Policy, part 3"),
        "/privacy/children": page("<main><h1>Children's Privacy Notice</h1><p>We collect a child's "
                                  "first name only with parental consent.</p></main>"),
        "/privacy/cookies": page("<main><h1>Cookie Policy</h1><p>We use cookies to remember "
                                 "your language.</p></main>"),
    }


PDF_SOURCE = ("Star Scribes Privacy Policy\n"
              "We collect each student's name, class and school, and the stories they write for "
              "their teacher, and we keep them while the school account stays open.\n"
              "We do not sell student personal information.")


SITES = {
    "split": None,  # built with the URL of "player", to check third-party policies stay out
    "player": {"/privacy": page("<main><h1>Player privacy</h1><p>The player's own policy.</p></main>")},
    "pdf": {
        "/": page("<main><h1>Star Scribes</h1></main><footer><a href='/docs/policy.pdf'>Privacy Policy (PDF)</a></footer>"),
        "/docs/policy.pdf": (200, {"Content-Type": "application/pdf"},
                             text_to_pdf(PDF_SOURCE, title="Star Scribes Privacy Policy")),
    },
    "thai874": {
        "/": (200, {"Content-Type": "text/html; charset=windows-874"},
              page("<main><h1>เด็กดี</h1></main><footer><a href='/privacy.html'>นโยบายความเป็นส่วนตัว</a></footer>",
                   lang="th").replace("charset='utf-8'", "charset='windows-874'").encode("cp874")),
        "/privacy.html": (200, {"Content-Type": "text/html; charset=windows-874"},
                          page("<main>" + "".join(f"<p>{line}</p>" for line in THAI_POLICY.split("\n"))
                               + "</main>", lang="th").replace("charset='utf-8'", "").encode("cp874")),
    },
    "thai-mislabelled": {
        # Thai link text on a URL that says nothing; the policy is TIS-620 sent as UTF-8.
        "/": page("<main><p><a href='/p/17'>นโยบายคุ้มครองข้อมูลส่วนบุคคล</a></p></main>", lang="th"),
        "/p/17": (200, {"Content-Type": "text/html; charset=utf-8"},
                  ("<html><body><main>" + "".join(f"<p>{line}</p>" for line in THAI_MISLABELLED.split("\n"))
                   + "</main></body></html>").encode("cp874")),
    },
    "footer-only": {
        "/": page(FURNITURE + "<main><h1>Puzzle Land</h1><p>Play puzzles.</p></main>"
                  "<footer><p>&copy; Puzzle Land</p><a href='/legal/doc-4'>Privacy</a></footer>"),
        "/legal/doc-4": page("<main><h1>Privacy</h1><p>We collect your nickname to show scores.</p></main>"),
    },
    "link-rel": {
        "/": page("<main><h1>Tunes</h1></main>", head="<link rel='privacy-policy' href='/kb/article-99'>"),
        "/kb/article-99": page("<main><h1>How we handle data</h1><p>We collect your email address "
                               "and personal information.</p></main>"),
    },
    "redirect": {
        "/": page("<footer><a href='/privacy'>Privacy Policy</a></footer>"),
        "/privacy": (301, {"Location": "/legal/privacy-v2"}, b""),
        "/legal/privacy-v2": page("<main><h1>Privacy Policy</h1><p>We collect usage data.</p></main>"),
    },
    "fallback": {
        "/": page("<main><h1>Nothing linked here</h1></main>"),
        "/privacy-policy": page("<main><h1>Privacy Policy</h1><p>We collect personal information "
                                "from parents only.</p></main>"),
    },
    "fallback-image": {
        # A guessed path that answers with an image is recorded as an error, and guessing goes on.
        "/": page("<main><h1>Nothing linked here either</h1></main>"),
        "/privacy": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        "/privacy-policy": page("<main><h1>Privacy Policy</h1><p>We collect personal information "
                                "from teachers only.</p></main>"),
    },
    "legal-hub": {
        "/": page("<footer><a href='/legal'>Legal</a> <a href='/contact'>Contact</a></footer>"),
        "/legal": page("<main><h1>Legal</h1><ul><li><a href='/legal/terms'>Terms of Use</a></li>"
                       "<li><a href='/legal/pn'>Privacy Notice</a></li></ul></main>"),
        "/legal/pn": page("<main><h1>Privacy Notice</h1><p>We collect a login name.</p></main>"),
    },
    "listed": {
        "/": page("<footer><a href='/privacy-a'>Privacy Policy</a></footer>"),
        "/privacy-a": page("<main><h1>Privacy Policy A</h1><p>Old policy text.</p></main>"),
        "/privacy-b": page("<main><h1>Privacy Policy B</h1><p>The policy named in the registry.</p></main>"),
    },
}


@pytest.fixture(scope="module")
def policy_scan(tmp_path_factory):
    """One scan of every site above; returns (database, {site name: LoopbackSite})."""
    sites = {"player": LoopbackSite(SITES["player"])}
    sites["split"] = LoopbackSite(split_site(sites["player"].url))
    for name, pages in SITES.items():
        if pages is not None and name not in sites:
            sites[name] = LoopbackSite(pages)
    targets = [{"id": name, "name": name, "audience": "child-directed", "homepage": site.url + "/"}
               for name, site in sites.items() if name != "player"]
    for target in targets:
        if target["id"] == "listed":
            target["policy_urls"] = [sites["listed"].url + "/privacy-b"]
    folder = tmp_path_factory.mktemp("policy-scan")
    targets_file = write_targets(folder / "targets.yaml", *targets)
    db_path = folder / "results.db"
    try:
        run_cli("scan", targets_file, "--db", db_path, "--allow-private")
        yield sqlite_utils.Database(db_path), sites
    finally:
        for site in sites.values():
            site.close()


def policy_rows(db, target_id):
    return db.execute(
        """SELECT f.url, f.final_url, f.status, f.error, f.discovered_by, d.text, d.lang,
                  d.content_type, d.title, f.document_id
           FROM fetches f LEFT JOIN documents d ON d.id = f.document_id
           WHERE f.kind = 'policy' AND f.target_id = ? ORDER BY f.id""", [target_id]).fetchall()


def by_path(rows, site):
    return {row[0][len(site.url):]: row for row in rows}


def test_split_policy_every_page_is_its_own_document(policy_scan):
    db, sites = policy_scan
    rows = by_path(policy_rows(db, "split"), sites["split"])
    assert set(rows) == {"/privacy/", "/privacy/2", "/privacy/3", "/privacy/children", "/privacy/cookies"}
    assert rows["/privacy/"][4] == "footer-link"
    assert rows["/privacy/2"][4] == "continuation"
    assert rows["/privacy/3"][4] == "continuation"
    assert rows["/privacy/children"][4] == "policy-link"
    assert len({row[9] for row in rows.values()}) == 5  # five distinct documents
    assert "We share data with hosting providers." in rows["/privacy/2"][5]
    assert "parental consent" in rows["/privacy/children"][5]
    assert "Home" not in rows["/privacy/"][5] and "Games" not in rows["/privacy/"][5]


def test_another_sites_policy_linked_from_a_policy_is_not_followed(policy_scan):
    db, sites = policy_scan
    assert "/privacy" not in sites["player"].requests
    assert not [r for r in policy_rows(db, "split") if r[0].startswith(sites["player"].url)]


def test_pdf_policy(policy_scan):
    db, _ = policy_scan
    [row] = policy_rows(db, "pdf")
    assert row[2] == 200 and row[3] is None
    assert "pdf" in row[7] and row[6] == "en"
    assert ("We collect each student's name, class and school, and the stories they write for "
            "their teacher, and we keep them while the school account stays open.") in row[5]


def test_cp874_thai_policy_found_by_thai_footer_link(policy_scan):
    db, _ = policy_scan
    [row] = policy_rows(db, "thai874")
    assert row[4] == "footer-link"
    assert row[6] == "th"
    assert row[5].replace("\n\n", "\n") == THAI_POLICY  # a blank line between paragraphs


def test_thai_link_text_and_tis620_mislabelled_as_utf8(policy_scan):
    db, sites = policy_scan
    [row] = policy_rows(db, "thai-mislabelled")
    assert row[0] == sites["thai-mislabelled"].url + "/p/17"
    assert row[5].replace("\n\n", "\n") == THAI_MISLABELLED
    assert row[6] == "th"


def test_footer_only_link(policy_scan):
    db, sites = policy_scan
    [row] = policy_rows(db, "footer-only")
    assert row[0] == sites["footer-only"].url + "/legal/doc-4"
    assert row[4] == "footer-link"
    assert "nickname" in row[5]


def test_link_rel_privacy_policy(policy_scan):
    db, sites = policy_scan
    [row] = policy_rows(db, "link-rel")
    assert row[0] == sites["link-rel"].url + "/kb/article-99"
    assert row[4] == "link-rel"


def test_redirect_keeps_url_and_final_url(policy_scan):
    db, sites = policy_scan
    [row] = policy_rows(db, "redirect")
    assert row[0] == sites["redirect"].url + "/privacy"
    assert row[1] == sites["redirect"].url + "/legal/privacy-v2"
    assert row[2] == 200 and row[3] is None and "usage data" in row[5]


def test_common_paths_are_tried_in_turn_when_nothing_is_linked(policy_scan):
    db, sites = policy_scan
    rows = policy_rows(db, "fallback")
    assert [r[0][len(sites["fallback"].url):] for r in rows] == ["/privacy", "/privacy-policy"]
    assert rows[0][2] == 404 and rows[0][9] is None
    assert rows[1][4] == "common-path" and "from parents only" in rows[1][5]
    assert "/privacy.html" not in sites["fallback"].requests  # stopped once found


def test_a_path_serving_no_document_is_an_error_and_the_next_path_is_tried(policy_scan):
    db, sites = policy_scan
    url = sites["fallback-image"].url
    rows = policy_rows(db, "fallback-image")
    assert [r[0] for r in rows] == [url + "/privacy", url + "/privacy-policy"]
    assert rows[0][3] == f"{url}/privacy: unsupported content type image/png (not HTML, PDF or plain text)"
    assert rows[0][9] is None
    assert rows[1][3] is None and "from teachers only" in rows[1][5]


def test_a_legal_hub_page_leads_to_the_policy(policy_scan):
    db, sites = policy_scan
    [row] = policy_rows(db, "legal-hub")
    assert row[0] == sites["legal-hub"].url + "/legal/pn"
    assert "login name" in row[5]
    found_by = {r[0] for r in db.execute(
        "SELECT discovered_by FROM fetches WHERE target_id = 'legal-hub' AND url = ?",
        [sites["legal-hub"].url + "/legal"])}
    assert "legal-hub" in found_by
    assert "/privacy" not in sites["legal-hub"].requests  # no common-path guessing needed


def test_policy_urls_of_the_targets_file_win(policy_scan):
    db, sites = policy_scan
    [row] = policy_rows(db, "listed")
    assert row[0] == sites["listed"].url + "/privacy-b"
    assert row[4] == "targets-file"  # the homepage's own link to /privacy-a is not a policy fetch


def test_every_policy_fetch_has_provenance(policy_scan):
    db, _ = policy_scan
    for row in db.execute("SELECT url, final_url, fetched_at, scan_id, discovered_by FROM fetches "
                          "WHERE kind = 'policy'").fetchall():
        assert all(value is not None for value in row), row


def test_robots_txt_is_obeyed_unless_overridden(loopback_site, tmp_path):
    site = loopback_site({
        "/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /privacy\n"),
        "/": page("<footer><a href='/privacy'>Privacy Policy</a></footer>"),
        "/privacy": page("<main><h1>Privacy Policy</h1><p>We collect email addresses.</p></main>"),
    })
    targets_file = write_targets(tmp_path / "targets.yaml", {
        "id": "robots", "name": "Robots", "audience": "child-directed", "homepage": site.url + "/"})
    db_path = tmp_path / "results.db"
    run_cli("scan", targets_file, "--db", db_path, "--allow-private")
    assert "/privacy" not in site.requests
    db = sqlite_utils.Database(db_path)
    [(error, document_id)] = db.execute(
        "SELECT error, document_id FROM fetches WHERE kind = 'policy' AND scan_id = 1").fetchall()
    assert "robots.txt" in error and document_id is None

    run_cli("scan", targets_file, "--db", db_path, "--allow-private", "--ignore-robots")
    assert "/privacy" in site.requests
    [(error, text)] = db.execute(
        """SELECT f.error, d.text FROM fetches f JOIN documents d ON d.id = f.document_id
           WHERE f.kind = 'policy' AND f.scan_id = 2""").fetchall()
    assert error is None and "email addresses" in text
