"""The schema's one home: the migrations (sqlite-utils), the views researchers query, and the
layout of findings. Every table and column is documented in docs/schema.md;
tests/test_schema_docs.py fails when they drift. scanner/store.py opens databases and writes.

Longer than 500 lines because every migration lives here, in the order they apply, with the
views each one builds: the schema's one home.
"""

from __future__ import annotations

import hashlib
import json

import sqlite_utils
from sqlite_utils.migrations import Migrations


migrations = Migrations("child-privacy-scanner")


LATEST_FINDINGS_VIEW = """
SELECT f.* FROM findings f
JOIN latest_scan_per_target l ON l.target_id = f.target_id AND l.scan_id = f.scan_id
"""
TARGET_RISK_VIEW = """
SELECT t.id AS target_id, t.name, t.audience, t.country, s.scan_id, s.score, s.grade,
       s.status,
       (SELECT COUNT(*) FROM findings f WHERE f.scan_id = s.scan_id
          AND f.target_id = s.target_id AND f.polarity = 'risk') AS risk_findings,
       (SELECT COUNT(DISTINCT domain) FROM third_parties p WHERE p.scan_id = s.scan_id
          AND p.target_id = s.target_id) AS third_party_domains
FROM targets t
JOIN latest_scan_per_target l ON l.target_id = t.id
JOIN scores s ON s.scan_id = l.scan_id AND s.target_id = l.target_id
"""


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["targets"].create(
        {
            "id": str, "name": str, "audience": str, "homepage": str, "country": str,
            "tags": str, "platforms": str, "policy_urls": str, "first_seen_scan": int,
            "last_seen_scan": int,
        },
        pk="id",
    )
    db["scans"].create(
        {
            "id": int, "started_at": str, "finished_at": str, "status": str,
            "tool_version": str, "rules_version": str, "targets_file": str, "options": str,
        },
        pk="id",
    )
    db["documents"].create(
        {
            "id": int, "sha256": str, "content_type": str, "lang": str, "text": str,
            "title": str, "first_seen_scan": int, "first_url": str, "length": int,
        },
        pk="id",
    )
    db["documents"].create_index(["sha256"], unique=True)
    db["fetches"].create(
        {
            "id": int, "scan_id": int, "target_id": str, "url": str, "final_url": str,
            "kind": str, "status": int, "error": str, "document_id": int,
            "content_type": str, "fetched_at": str, "discovered_by": str,
        },
        pk="id",
        foreign_keys=[("scan_id", "scans", "id"), ("document_id", "documents", "id")],
    )
    db["fetches"].create_index(["scan_id", "target_id"])
    db["findings"].create(
        {
            "id": int, "scan_id": int, "target_id": str, "source": str, "rule_id": str,
            "category": str, "practice": str, "severity": str, "polarity": str,
            "data_types": str, "evidence": str, "document_id": int, "start": int, "end": int,
            "url": str,
        },
        pk="id",
        foreign_keys=[("scan_id", "scans", "id"), ("document_id", "documents", "id")],
    )
    db["findings"].create_index(["scan_id", "target_id"])
    db["findings"].create_index(["category", "polarity"])
    db["third_parties"].create(
        {
            "id": int, "scan_id": int, "target_id": str, "page_url": str, "request_url": str,
            "host": str, "domain": str, "entity": str, "category": str, "is_data_broker": int,
            "via": str, "rule_id": str,
        },
        pk="id",
        foreign_keys=[("scan_id", "scans", "id")],
    )
    db["third_parties"].create_index(["scan_id", "target_id"])
    db["third_parties"].create_index(["domain"])
    db["cookies"].create(
        {
            "id": int, "scan_id": int, "target_id": str, "page_url": str, "name": str,
            "domain": str, "third_party": int, "expires": str, "secure": int, "samesite": str,
            "http_only": int, "via": str,
        },
        pk="id",
        foreign_keys=[("scan_id", "scans", "id")],
    )
    db["scores"].create(
        {
            "scan_id": int, "target_id": str, "score": int, "grade": str, "status": str,
            "explanation": str,
        },
        pk=("scan_id", "target_id"),
        foreign_keys=[("scan_id", "scans", "id")],
    )
    db.create_view(
        "latest_scan_per_target",
        """
        SELECT target_id, MAX(scan_id) AS scan_id FROM scores GROUP BY target_id
        """,
    )
    db.create_view("latest_findings", LATEST_FINDINGS_VIEW)
    db.create_view("target_risk", TARGET_RISK_VIEW)


@migrations()
def m002_tracker_details(db: sqlite_utils.Database) -> None:
    """Tracker IDs a request carries, which list classified it, and the owner of known cookies."""
    db["third_parties"].add_column("tracker_ids", str)
    db["third_parties"].add_column("list_source", str)
    db["cookies"].add_column("entity", str)
    db["cookies"].add_column("category", str)
    db["cookies"].add_column("rule_id", str)


@migrations()
def m003_scan_targets(db: sqlite_utils.Database) -> None:
    """Which targets of a scan have been crawled: what `scanner scan --resume` skips."""
    db["scan_targets"].create(
        {"scan_id": int, "target_id": str, "status": str, "finished_at": str},
        pk=("scan_id", "target_id"),
        foreign_keys=[("scan_id", "scans", "id")],
    )


@migrations()
def m004_tracker_lists(db: sqlite_utils.Database) -> None:
    """Which tracker lists, in which versions, a scan classified requests with."""
    db["tracker_lists"].create(
        {"scan_id": int, "name": str, "load_order": int, "format": str, "version": str,
         "license": str, "source_url": str, "sha256": str, "fetched_at": str,
         "imported_at": str, "path": str},
        pk=("scan_id", "name"),
        foreign_keys=[("scan_id", "scans", "id")],
    )



@migrations()
def m005_apps(db: sqlite_utils.Database) -> None:
    """Android apps: each APK once, per scan its SDKs and permissions, and store listings."""
    db["apps"].create(
        {"sha256": str, "package": str, "version_name": str, "version_code": int,
         "min_sdk": int, "target_sdk": int, "size": int, "dex_count": int,
         "classes_count": int, "source": str, "first_seen_scan": int},
        pk="sha256",
    )
    for table, columns in (
        ("app_sdks", {"sdk": str, "sdk_id": str, "entity": str, "category": str,
                      "child_directed_adtech": int, "evidence": str, "evidence_kind": str,
                      "network_evidence": str, "signature_source": str}),
        ("app_permissions", {"permission": str, "sensitive": int}),
    ):
        db[table].create(
            {"scan_id": int, "target_id": str, "app_sha256": str, **columns},
            foreign_keys=[("scan_id", "scans", "id"), ("app_sha256", "apps", "sha256")],
        )
        db[table].create_index(["scan_id", "target_id"])
    db["store_listings"].create(
        {"scan_id": int, "target_id": str, "url": str, "final_url": str, "status": int,
         "error": str, "fetched_at": str, "body_sha256": str, "package": str, "title": str,
         "developer": str, "developer_email": str, "developer_website": str, "category": str,
         "privacy_policy_url": str, "contains_ads": int, "in_app_purchases": int,
         "content_rating": str, "target_ages": str, "designed_for_families": int,
         "teacher_approved": int, "data_shared": str, "data_collected": str,
         "no_data_shared": int, "no_data_collected": int, "security_practices": str,
         "datasafety_url": str, "problems": str},
        foreign_keys=[("scan_id", "scans", "id")],
    )
    db["store_listings"].create_index(["scan_id", "target_id"])
    db["fetches"].add_column("app_sha256", str)
    db["fetches"].add_column("seconds", float)


@migrations()
def m006_merged_shards(db: sqlite_utils.Database) -> None:
    """Which shard databases `scanner merge` folded into a scan: merging one again adds nothing."""
    db["merged_shards"].create(
        {"shard_key": str, "scan_id": int, "shard": str, "shard_scan_id": int,
         "shard_status": str, "shard_started_at": str, "shard_finished_at": str,
         "rules_version": str, "tool_version": str, "targets": str, "source": str,
         "file_sha256": str, "merged_at": str},
        pk="shard_key",
        foreign_keys=[("scan_id", "scans", "id")],
    )
    db["merged_shards"].create_index(["scan_id"])


@migrations()
def m007_browser_artifacts(db: sqlite_utils.Database) -> None:
    """Browser mode: screenshots and HAR files kept as evidence, and how each text was read."""
    db["browser_artifacts"].create(
        {"id": int, "scan_id": int, "target_id": str, "page_url": str, "kind": str, "path": str,
         "sha256": str, "bytes": int, "created_at": str},
        pk="id",
        foreign_keys=[("scan_id", "scans", "id")],
    )
    db["browser_artifacts"].create_index(["scan_id", "target_id"])
    db["browser_artifacts"].create_index(["sha256"])
    db["documents"].add_column("read_with", str)
    db["fetches"].add_column("read_with", str)
    # Until now every policy text was read from the static fetch. A page row of an older
    # browser scan may come from either spider: it stays unknown (null).
    db.execute("UPDATE documents SET read_with = 'static'")
    db.execute("""UPDATE fetches SET read_with = 'static' WHERE kind != 'page' OR scan_id NOT IN
                  (SELECT id FROM scans WHERE options LIKE '%"browser": true%')""")


@migrations()
def m008_evidence(db: sqlite_utils.Database) -> None:
    """Raw bodies kept once by sha256 (files under <db>.evidence/bodies/), headers and times per fetch."""
    db["bodies"].create(
        {"sha256": str, "size": int, "stored_size": int, "compression": str, "path": str,
         "content_type": str, "first_seen_scan": int, "first_url": str, "stored_at": str},
        pk="sha256",
    )
    for column, kind in (("raw_sha256", str), ("raw_size", int), ("request_headers", str),
                         ("response_headers", str), ("request_sent_at", str),
                         ("response_received_at", str)):
        db["fetches"].add_column(column, kind)
    db["fetches"].create_index(["raw_sha256"])


# Trigram full-text indexes: Thai has no spaces between words, so a word tokenizer would index a
# whole Thai clause as one token; trigrams find any run of 3+ characters in either language.
FTS_TOKENIZER = "trigram"


@migrations()
def m009_rules_and_search(db: sqlite_utils.Database) -> None:
    """The rules as they were at each scan, and full-text indexes on policy text and evidence."""
    db["rules"].create(
        {"scan_id": int, "id": str, "kind": str, "version": str, "description": str,
         "category": str, "severity": str, "polarity": str, "references": str, "status": str,
         "lang": str, "source_file": str, "file_description": str},
        pk=("scan_id", "id"),
        foreign_keys=[("scan_id", "scans", "id")],
    )
    db["documents"].enable_fts(["title", "text"], create_triggers=True, tokenize=FTS_TOKENIZER)
    db["findings"].enable_fts(["evidence"], create_triggers=True, tokenize=FTS_TOKENIZER)


@migrations()
def m010_sentences(db: sqlite_utils.Database) -> None:
    """Every policy text cut into sentences (offsets into documents.text), searchable."""
    db["sentences"].create(
        {"document_id": int, "n": int, "start": int, "end": int, "text": str},
        pk=("document_id", "n"),
        foreign_keys=[("document_id", "documents", "id")],
    )
    db["sentences"].enable_fts(["text"], create_triggers=True, tokenize=FTS_TOKENIZER)
    index_sentences(db)


# A policy finding read through the `findings` view has the id
# POLICY_FINDING_ID_BASE + fetch id * FINDINGS_PER_DOCUMENT + its ordinal n in the document:
# stable, above every scan_findings id, and under 2**53 (JSON readers) up to 2**32 fetches.
# A document keeps at most FINDINGS_PER_DOCUMENT findings so that ids never overlap.
POLICY_FINDING_ID_BASE = 1 << 44
FINDINGS_PER_DOCUMENT = 1 << 20

FINDING_COLUMNS = ("id", "scan_id", "target_id", "source", "rule_id", "category", "practice",
                   "severity", "polarity", "data_types", "evidence", "document_id", "start",
                   "end", "url")
FINDINGS_VIEW = f"""
SELECT {', '.join(f'[{c}]' for c in FINDING_COLUMNS)} FROM scan_findings
UNION ALL
SELECT {POLICY_FINDING_ID_BASE} + fe.id * {FINDINGS_PER_DOCUMENT} + df.n, fe.scan_id, fe.target_id,
       'policy', df.rule_id, df.category, df.practice, df.severity, df.polarity, df.data_types,
       df.evidence, fe.document_id, df.start, df.[end], COALESCE(NULLIF(fe.final_url, ''), fe.url)
FROM fetches fe
JOIN document_findings df ON df.document_id = fe.document_id
 AND df.findings_version = fe.findings_version
"""


@migrations()
def m011_document_findings(db: sqlite_utils.Database) -> None:
    """Policy findings kept once per document and findings version, read per scan via fetches."""
    # The views name findings; its FTS index is bound to the table's name: both are rebuilt.
    for view in ("target_risk", "latest_findings"):
        db.execute(f"DROP VIEW IF EXISTS [{view}]")
    db["findings"].disable_fts()
    db.rename_table("findings", "scan_findings")
    db["scan_findings"].enable_fts(["evidence"], create_triggers=True, tokenize=FTS_TOKENIZER)
    db["document_findings"].create(
        {"id": int, "document_id": int, "findings_version": str, "n": int, "rule_id": str,
         "category": str, "practice": str, "severity": str, "polarity": str,
         "data_types": str, "evidence": str, "start": int, "end": int},
        pk="id",
        foreign_keys=[("document_id", "documents", "id")],
    )
    db["document_findings"].create_index(["document_id", "findings_version", "n"], unique=True)
    db["document_findings"].enable_fts(["evidence"], create_triggers=True,
                                       tokenize=FTS_TOKENIZER)
    # Fetches of older scans keep this null: their policy findings stay rows of scan_findings.
    db["fetches"].add_column("findings_version", str)
    db.create_view("findings", FINDINGS_VIEW)
    db.create_view("latest_findings", LATEST_FINDINGS_VIEW)
    db.create_view("target_risk", TARGET_RISK_VIEW)


RULE_COLUMNS = ("id", "kind", "version", "description", "category", "severity", "polarity",
                "references", "status", "lang", "source_file", "file_description")
# The rules a scan judged with: its rule set's members, each rule's content stored once.
RULES_VIEW = f"""
SELECT s.id AS scan_id, {', '.join(f'r.[{c}]' for c in RULE_COLUMNS)}
FROM scans s
JOIN rule_sets rs ON rs.sha256 = s.rule_set
JOIN json_each(rs.records) m
JOIN rule_records r ON r.record = m.value
"""
SCORES_VIEW = """
SELECT ss.scan_id, ss.target_id, ss.score, ss.grade, ss.status, e.explanation,
       ss.explanation_sha256
FROM scan_scores ss LEFT JOIN explanations e ON e.sha256 = ss.explanation_sha256
"""
LATEST_SCAN_PER_TARGET_VIEW = """
SELECT target_id, MAX(scan_id) AS scan_id FROM scan_scores GROUP BY target_id
"""


@migrations()
def m012_rules_and_explanations_once(db: sqlite_utils.Database) -> None:
    """Each distinct rule and score explanation stored once; scans and scores refer to them."""
    # Views naming scores or rules are rebuilt on the tables that replace them.
    for view in ("target_risk", "latest_findings", "latest_scan_per_target"):
        db.execute(f"DROP VIEW IF EXISTS [{view}]")
    db["rule_records"].create(
        {"record": int, "sha256": str, **{c: str for c in RULE_COLUMNS}}, pk="record")
    db["rule_records"].create_index(["sha256"], unique=True)
    db["rule_sets"].create({"sha256": str, "rules": int, "records": str}, pk="sha256")
    db["scans"].add_column("rule_set", str)
    old_rules: dict[int, list[dict]] = {}
    for row in db.query("SELECT * FROM rules ORDER BY scan_id, id"):
        old_rules.setdefault(row.pop("scan_id"), []).append(row)
    db["rules"].drop()
    for scan_id, rows in old_rules.items():
        store_rule_set(db, scan_id, rows)
    db.create_view("rules", RULES_VIEW)

    db["explanations"].create({"sha256": str, "explanation": str}, pk="sha256")
    db["scan_scores"].create(
        {"scan_id": int, "target_id": str, "score": int, "grade": str, "status": str,
         "explanation_sha256": str},
        pk=("scan_id", "target_id"),
        foreign_keys=[("scan_id", "scans", "id"), ("explanation_sha256", "explanations", "sha256")],
    )
    # Old explanations are kept as they were written (their finding ids included).
    rows, explanations = [], {}
    for row in db.query("SELECT scan_id, target_id, score, grade, status, explanation "
                        "FROM scores"):
        explanation = row.pop("explanation")
        if explanation is not None:
            digest = hashlib.sha256(str(explanation).encode("utf-8")).hexdigest()
            explanations[digest] = str(explanation)
            row["explanation_sha256"] = digest
        rows.append(row)
    db["explanations"].insert_all(({"sha256": d, "explanation": e}
                                   for d, e in explanations.items()), batch_size=500)
    db["scan_scores"].insert_all(rows, batch_size=1000)
    db["scores"].drop()
    db.create_view("scores", SCORES_VIEW)
    db.create_view("latest_scan_per_target", LATEST_SCAN_PER_TARGET_VIEW)
    db.create_view("latest_findings", LATEST_FINDINGS_VIEW)
    db.create_view("target_risk", TARGET_RISK_VIEW)


def rule_sha256(row: dict) -> str:
    """The content hash of one rule's record (its columns, not the scan)."""
    text = json.dumps([row.get(c) for c in RULE_COLUMNS], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def store_rule_set(db: sqlite_utils.Database, scan_id: int, rows: list[dict]) -> str:
    """Store each rule of rows once (by content) and their set once; point the scan at it.
    Plain statements on the open transaction (merge copies a shard in one); returns the set's
    sha256."""
    digests = sorted({rule_sha256(row): row for row in rows}.items())
    set_sha256 = hashlib.sha256("\n".join(d for d, _ in digests).encode("ascii")).hexdigest()
    if db.execute("SELECT 1 FROM rule_sets WHERE sha256 = ?", [set_sha256]).fetchone() is None:
        columns = ", ".join(f"[{c}]" for c in ("sha256", *RULE_COLUMNS))
        db.conn.executemany(
            f"INSERT OR IGNORE INTO rule_records ({columns}) "
            f"VALUES ({', '.join('?' * (len(RULE_COLUMNS) + 1))})",
            [[digest, *(row.get(c) for c in RULE_COLUMNS)] for digest, row in digests])
        records = dict(db.execute("SELECT sha256, record FROM rule_records WHERE sha256 IN "
                                  "(SELECT value FROM json_each(?))",
                                  [json.dumps([d for d, _ in digests])]).fetchall())
        db.execute("INSERT INTO rule_sets (sha256, rules, records) VALUES (?, ?, ?)",
                   [set_sha256, len(digests), json.dumps([records[d] for d, _ in digests])])
    db.execute("UPDATE scans SET rule_set = ? WHERE id = ?", [set_sha256, scan_id])
    return set_sha256


def index_sentences(db: sqlite_utils.Database, document_ids: list[int] | None = None) -> int:
    """Cut the documents not yet cut (or these ones) into `sentences` rows, each with its
    heading path (from documents.headings, else from the text's own title lines once m014
    made the columns); returns how many."""
    from scanner.sentences import heading_paths, split_sentences

    if "sentences" not in db.table_names():
        return 0
    with_headings = "heading" in db["sentences"].columns_dict
    sql = (f"SELECT id, text, lang, {'headings' if with_headings else 'NULL'} FROM documents "
           "WHERE id NOT IN (SELECT document_id FROM sentences)")
    params: list = []
    if document_ids is not None:
        sql += f" AND id IN ({', '.join('?' * len(document_ids))})"
        params = list(document_ids)
    rows = []
    for document_id, text, lang, headings in db.execute(sql, params).fetchall():
        text = text or ""
        # A Thai or undetermined text: Thai lines go to the Thai cutter, others to the English.
        spans = split_sentences(text, "en" if lang == "en" else "auto")
        paths = heading_paths(spans, stored_outline(text, headings)) if with_headings else ()
        for n, (start, end) in enumerate(spans):
            row = {"document_id": document_id, "n": n, "start": start, "end": end,
                   "text": text[start:end]}
            if with_headings:
                row["heading"], row["is_heading"] = paths[n][0], int(paths[n][1])
            rows.append(row)
    if rows:  # OR IGNORE: a reader may cut a document the pipeline is cutting at that moment
        db["sentences"].insert_all(rows, batch_size=1000, ignore=True)
    return len(rows)


def stored_outline(text: str, headings_json: str | None) -> list:
    """A document's outline: its documents.headings (JSON), else read from its text."""
    from scanner.sentences import Heading, text_headings

    if headings_json is None:
        return text_headings(text)
    return [Heading(*row) for row in json.loads(headings_json)]


# ---- m013: observations stored once while they stay the same --------------------------------
# A target's observations of a kind (its third parties, web findings, cross-check findings) that
# equal those of its previous scan are not written again: the scan's `observation_refs` row
# names the scan whose rows hold them, and the views read them as rows of this scan. A fetch
# (a cookie) equal to one of the previous scan's is a `fetch_times` (`cookie_times`) row instead:
# the stored row's id with this scan's times and volatile header values (expiry).
FETCH_COLUMNS = ("id", "scan_id", "target_id", "url", "final_url", "kind", "status", "error",
                 "document_id", "content_type", "fetched_at", "discovered_by", "app_sha256",
                 "seconds", "read_with", "raw_sha256", "raw_size", "request_headers",
                 "response_headers", "request_sent_at", "response_received_at",
                 "findings_version")
THIRD_PARTY_COLUMNS = ("id", "scan_id", "target_id", "page_url", "request_url", "host", "domain",
                       "entity", "category", "is_data_broker", "via", "rule_id", "tracker_ids",
                       "list_source")
COOKIE_COLUMNS = ("id", "scan_id", "target_id", "page_url", "name", "domain", "third_party",
                  "expires", "secure", "samesite", "http_only", "via", "entity", "category",
                  "rule_id")
# kind: (table of stored rows, its columns, which of its rows the kind is, view)
OBSERVATION_KINDS = {
    "fetches": ("fetch_rows", FETCH_COLUMNS, "1", "fetches"),
    "third_parties": ("third_party_rows", THIRD_PARTY_COLUMNS, "1", "third_parties"),
    "cookies": ("cookie_rows", COOKIE_COLUMNS, "1", "cookies"),
    # an app's findings are written by the app step, per scan, before the crawl
    "findings": ("scan_findings", FINDING_COLUMNS, "source NOT IN ('crosscheck', 'app')",
                 "findings"),
    "crosscheck": ("scan_findings", FINDING_COLUMNS, "source = 'crosscheck'", "findings"),
}
# Kinds shared row by row (the others as a whole): {kind: (table of this scan's values, its
# column naming the stored row)}.
SHARED_BY_ROW = {"fetches": ("fetch_times", "fetch_id"), "cookies": ("cookie_times", "cookie_id")}
# Times in fetch_times and cookie_times: an integer is a time this scanner wrote in its usual format (seconds or
# milliseconds since 1970, or an HTTP date's seconds), anything else is the value as it was.
_ISO_SECONDS = "strftime('%Y-%m-%dT%H:%M:%S+00:00', {0}, 'unixepoch')"
_ISO_MILLISECONDS = "strftime('%Y-%m-%dT%H:%M:%f+00:00', {0} / 1000.0, 'unixepoch')"
_HTTP_DATE = ("substr('SunMonTueWedThuFriSat', strftime('%w', {0}, 'unixepoch') * 3 + 1, 3) || "
              "strftime(', %d ', {0}, 'unixepoch') || substr('JanFebMarAprMayJunJulAugSepOctNovDec', "
              "strftime('%m', {0}, 'unixepoch') * 3 - 2, 3) || strftime(' %Y %H:%M:%S GMT', {0}, "
              "'unixepoch')")


def _decoded(column: str, fmt: str) -> str:
    return f"CASE typeof({column}) WHEN 'integer' THEN {fmt.format(column)} ELSE {column} END"


def _referenced_fetch(column: str) -> str:
    """One column of a fetch read under a later scan: its times and volatile headers are that
    scan's own (fetch_times t); the rest is the stored row r."""
    if column == "scan_id":
        return "t.scan_id"
    if column == "fetched_at":
        return _decoded("t.fetched_at", _ISO_SECONDS)
    if column in ("request_sent_at", "response_received_at"):
        return _decoded(f"t.{column}", _ISO_MILLISECONDS)
    if column == "seconds":
        return "t.seconds"
    if column == "response_headers":
        dated = (f"CASE WHEN t.date IS NULL THEN r.response_headers ELSE json_set("
                 f"r.response_headers, '$.Date', json_array({_decoded('t.date', _HTTP_DATE)})) END")
        return (f"CASE WHEN r.response_headers IS NULL THEN NULL "
                f"WHEN json_extract(t.headers, '$.response') IS NULL THEN {dated} "
                f"ELSE json_patch({dated}, json_extract(t.headers, '$.response')) END")
    if column == "request_headers":
        return ("CASE WHEN r.request_headers IS NULL OR json_extract(t.headers, '$.request') IS NULL "
                "THEN r.request_headers "
                "ELSE json_patch(r.request_headers, json_extract(t.headers, '$.request')) END")
    return f"r.[{column}]"


def observation_view(kind: str) -> str:
    """The rows a scan has of one kind: its own, and those it shares with an earlier scan."""
    table, columns, _, _ = OBSERVATION_KINDS[kind]
    own = f"SELECT {', '.join(f'[{c}]' for c in columns)} FROM [{table}]"
    if kind == "cookies":
        shared = ", ".join("t.scan_id" if c == "scan_id" else _decoded("t.expires", _ISO_SECONDS)
                           if c == "expires" else f"r.[{c}]" for c in columns)
        return f"""{own}
UNION ALL
SELECT {shared}
FROM cookie_times t
JOIN cookie_rows r ON r.id = t.cookie_id"""
    if kind == "fetches":
        shared = ", ".join(f"{_referenced_fetch(c)} AS [{c}]" for c in columns)
        return f"""{own}
UNION ALL
SELECT {shared}
FROM fetch_times t
JOIN fetch_rows r ON r.id = t.fetch_id"""
    shared = ", ".join("o.scan_id" if c == "scan_id" else f"r.[{c}]" for c in columns)
    return f"""{own}
UNION ALL
SELECT {shared}
FROM observation_refs o
JOIN [{table}] r ON r.scan_id = o.{kind}_from AND r.target_id = o.target_id"""


def _policy_findings(fetches: str, scan: str, also: bool = False) -> str:
    """The policy findings of fetches read under `scan`; with also (m015) their `also` column."""
    return f"""SELECT {POLICY_FINDING_ID_BASE} + fe.id * {FINDINGS_PER_DOCUMENT} + df.n, {scan}, fe.target_id,
       'policy', df.rule_id, df.category, df.practice, df.severity, df.polarity, df.data_types,
       df.evidence, fe.document_id, df.start, df.[end], COALESCE(NULLIF(fe.final_url, ''), fe.url){', df.[also]' if also else ''}
{fetches}
JOIN document_findings df ON df.document_id = fe.document_id
 AND df.findings_version = fe.findings_version"""


# The findings of a scan: scan_findings of its own, those it shares with an earlier scan (web
# findings and cross-check findings apart), and the policy findings of its fetches' documents.
OBSERVED_FINDINGS_VIEW = "\nUNION ALL\n".join([
    f"SELECT {', '.join(f'[{c}]' for c in FINDING_COLUMNS)} FROM scan_findings",
    *(f"SELECT {', '.join('o.scan_id' if c == 'scan_id' else f'f.[{c}]' for c in FINDING_COLUMNS)}\n"
      f"FROM observation_refs o\nJOIN scan_findings f ON f.scan_id = o.{kind}_from "
      f"AND f.target_id = o.target_id AND f.{OBSERVATION_KINDS[kind][2]}"
      for kind in ("findings", "crosscheck")),
    _policy_findings("FROM fetch_rows fe", "fe.scan_id"),
    _policy_findings("FROM fetch_times t\nJOIN fetch_rows fe ON fe.id = t.fetch_id", "t.scan_id"),
])


@migrations()
def m013_observations_once(db: sqlite_utils.Database) -> None:
    """Fetches, third parties, cookies and findings a re-scan saw unchanged are stored once:
    the tables become views over the stored rows and the scans that share them."""
    for view in ("target_risk", "latest_findings", "findings"):
        db.execute(f"DROP VIEW IF EXISTS [{view}]")
    for kind in ("fetches", "third_parties", "cookies"):
        db.rename_table(kind, OBSERVATION_KINDS[kind][0])
    db["observation_refs"].create(
        {"scan_id": int, "target_id": str,
         **{f"{kind}_from": int for kind in OBSERVATION_KINDS if kind not in SHARED_BY_ROW}},
        pk=("scan_id", "target_id"),
        foreign_keys=[("scan_id", "scans", "id")],
    )
    # Without rowid: one small row per fetch of a scan that shares its fetch rows.
    db.execute("""CREATE TABLE fetch_times (
        scan_id INTEGER NOT NULL REFERENCES scans(id), fetch_id INTEGER NOT NULL,
        target_id TEXT, fetched_at, request_sent_at, response_received_at, seconds FLOAT,
        date, headers TEXT, PRIMARY KEY (scan_id, fetch_id)) WITHOUT ROWID""")
    db.execute("""CREATE TABLE cookie_times (
        scan_id INTEGER NOT NULL REFERENCES scans(id), cookie_id INTEGER NOT NULL,
        target_id TEXT, expires, PRIMARY KEY (scan_id, cookie_id)) WITHOUT ROWID""")
    for kind in ("fetches", "third_parties", "cookies"):
        db.create_view(kind, observation_view(kind))
    db.create_view("findings", OBSERVED_FINDINGS_VIEW)
    db.create_view("latest_findings", LATEST_FINDINGS_VIEW)
    db.create_view("target_risk", TARGET_RISK_VIEW)


@migrations()
def m014_sentence_headings(db: sqlite_utils.Database) -> None:
    """Each sentence's heading path ("Section > Subsection"), and each document's outline as
    extracted (HTML headings, PDF bookmarks); older documents get the paths their text shows."""
    from scanner.sentences import heading_paths

    db["documents"].add_column("headings", str)
    db["sentences"].add_column("heading", str)
    db["sentences"].add_column("is_heading", int)
    documents = db.execute("SELECT DISTINCT document_id FROM sentences").fetchall()
    for (document_id,) in documents:
        text = db.execute("SELECT text FROM documents WHERE id = ?", [document_id]).fetchone()
        spans = db.execute("SELECT n, start, [end] FROM sentences WHERE document_id = ? "
                           "ORDER BY start, n", [document_id]).fetchall()
        paths = heading_paths([(start, end) for _n, start, end in spans],
                              stored_outline((text[0] if text else "") or "", None))
        db.conn.executemany("UPDATE sentences SET heading = ?, is_heading = ? "
                            "WHERE document_id = ? AND n = ?",
                            [(path, int(title), document_id, n) for (n, _s, _e), (path, title)
                             in zip(spans, paths, strict=True)])


# ---- m015: the rules merged into a policy finding ---------------------------------------------
# One sentence keeps one risk finding per category (scanner/engine.py one_per_category); the
# other rules that matched it are its `also` (a JSON list of rule ids, most specific first; []
# when none; null for rows stored before m015). Web, app and cross-check findings have none.
FINDINGS_WITH_ALSO_VIEW = "\nUNION ALL\n".join([
    f"SELECT {', '.join(f'[{c}]' for c in FINDING_COLUMNS)}, NULL AS [also] FROM scan_findings",
    *(f"SELECT {', '.join('o.scan_id' if c == 'scan_id' else f'f.[{c}]' for c in FINDING_COLUMNS)}, "
      f"NULL AS [also]\nFROM observation_refs o\nJOIN scan_findings f ON f.scan_id = "
      f"o.{kind}_from AND f.target_id = o.target_id AND f.{OBSERVATION_KINDS[kind][2]}"
      for kind in ("findings", "crosscheck")),
    _policy_findings("FROM fetch_rows fe", "fe.scan_id", also=True),
    _policy_findings("FROM fetch_times t\nJOIN fetch_rows fe ON fe.id = t.fetch_id", "t.scan_id",
                     also=True),
])


@migrations()
def m015_finding_also(db: sqlite_utils.Database) -> None:
    """document_findings.also: the other rules that matched a policy finding's sentence in its
    category, merged into it; the findings view (and the views on it) show it."""
    for view in ("target_risk", "latest_findings", "findings"):
        db.execute(f"DROP VIEW IF EXISTS [{view}]")
    db["document_findings"].add_column("also", str)
    db.create_view("findings", FINDINGS_WITH_ALSO_VIEW)
    db.create_view("latest_findings", LATEST_FINDINGS_VIEW)
    db.create_view("target_risk", TARGET_RISK_VIEW)
