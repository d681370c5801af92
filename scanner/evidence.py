"""Evidence: raw response bodies kept once by sha256 next to the database, checked when read,
and the case file of one target in one scan (`scanner evidence`). docs/evidence.md."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from scanner import __version__

# scanner.browser (paths of the evidence folder) and scanner.scoring are imported where used: a
# crawl worker imports this module for its headers and body columns only.

BODIES_FOLDER = "bodies"
COMPRESSION = "gzip"
CASE_FILE_FORMAT = 1
# Extensions a body gets inside a case file, so an officer's viewer opens it as what it is.
BODY_EXTENSIONS = (("html", ".html"), ("pdf", ".pdf"), ("json", ".json"), ("xml", ".xml"),
                   ("text/plain", ".txt"))


class EvidenceError(LookupError):
    """The case file asked for cannot be made: unknown target or scan, a target not in the scan."""


class BodyProblem(Exception):
    """A stored body that cannot be used as evidence: missing, unreadable, or changed."""


def should_keep_body(kind: str, discovered_by: str | None) -> bool:
    """Whose raw bytes are kept: policy pages and homepages (the pages a case rests on)."""
    return kind == "policy" or (kind == "page" and discovered_by == "homepage")


def headers_dict(headers) -> dict[str, list[str]]:
    """Scrapy Headers (bytes) as {name: [values]}, decoded as HTTP says (ISO-8859-1)."""
    out: dict[str, list[str]] = {}
    for name, values in headers.items():
        key = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        out[key] = [v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in values]
    return out


def body_path(db_path, digest: str) -> Path:
    """Where the body with this sha256 lives: <db>.evidence/bodies/<sha[:2]>/<sha>.gz."""
    from scanner.browser import evidence_dir

    return evidence_dir(Path(db_path).resolve()) / BODIES_FOLDER / digest[:2] / f"{digest}.gz"


def store_body(db, db_path, data: bytes, *, content_type: str | None, scan_id: int,
               url: str, digest: str | None = None) -> dict:
    """Keep data once (compressed, by sha256 of the raw bytes); the fetch's raw_sha256/raw_size.
    digest: the bytes' sha256 when the caller has it (body_columns)."""
    from scanner.browser import stored_path, write_once

    digest = digest or hashlib.sha256(data).hexdigest()
    path = body_path(db_path, digest)
    if not path.exists():
        # mtime=0: the same bytes always compress to the same file.
        write_once(path, gzip.compress(data, compresslevel=6, mtime=0))
    if not db["bodies"].count_where("sha256 = ?", [digest]):
        # ignore: a worker process of the same scan may have stored the same body meanwhile.
        db["bodies"].insert({
            "sha256": digest, "size": len(data), "stored_size": path.stat().st_size,
            "compression": COMPRESSION,
            "path": stored_path(path, db_path),
            "content_type": content_type, "first_seen_scan": scan_id, "first_url": url,
            "stored_at": _now(),
        }, ignore=True)
    return {"raw_sha256": digest, "raw_size": len(data)}


def body_columns(data: bytes) -> dict:
    """The fetch's raw_sha256 and raw_size of a body: what store_body returns for it."""
    return {"raw_sha256": hashlib.sha256(data).hexdigest(), "raw_size": len(data)}


def read_body(db_path, body: dict) -> bytes:
    """The raw bytes of a `bodies` row, or BodyProblem when they are missing or changed."""
    path = Path(db_path).resolve().parent / body["path"] if body.get("path") else \
        body_path(db_path, body["sha256"])
    try:
        data = gzip.decompress(path.read_bytes())
    except FileNotFoundError:
        raise BodyProblem(f"{path}: stored body is missing") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise BodyProblem(f"{path}: stored body is unreadable ({exc})") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != body["sha256"]:
        raise BodyProblem(f"{path}: stored body changed: its sha256 is {actual}, "
                          f"recorded {body['sha256']}")
    return data


# ---- the case file ----------------------------------------------------------------------------

@dataclass
class CaseFile:
    path: Path
    sha256: str
    files: list[dict]
    problems: list[dict] = field(default_factory=list)


def case_scan_and_target(db, scan, target_id: str) -> tuple[dict, dict]:
    """The scan row and target row a case file is made of, or EvidenceError in one line."""
    from scanner.store import resolve_scan_id

    target = next(iter(db.query("SELECT * FROM targets WHERE id = ?", [target_id])), None)
    if target is None:
        raise EvidenceError(f"no target {target_id!r} in the database")
    scan_id = resolve_scan_id(db, scan)
    in_scan = db.execute(
        """SELECT 1 FROM fetches WHERE scan_id = ? AND target_id = ?
           UNION SELECT 1 FROM scores WHERE scan_id = ? AND target_id = ?
           UNION SELECT 1 FROM store_listings WHERE scan_id = ? AND target_id = ?""",
        [scan_id, target_id] * 3).fetchone()
    if not in_scan:
        raise EvidenceError(f"target {target_id!r} is not in scan {scan_id}")
    scan_row = next(iter(db.query("SELECT * FROM scans WHERE id = ?", [scan_id])))
    return scan_row, target


def build_case_file(db, db_path, scan, target_id: str, out_path, *, pdf: bool = True,
                    made_at: dt.datetime | None = None) -> CaseFile:
    """Write the case file of one target in one scan to out_path (a zip); see docs/evidence.md."""
    from reports import render_report
    from scanner.browser import ARTIFACT_FOLDERS
    from scanner.scoring import load_explanation

    scan_row, target = case_scan_and_target(db, scan, target_id)
    scan_id = scan_row["id"]
    made_at = made_at or dt.datetime.now(dt.timezone.utc)
    files: dict[str, tuple[bytes, str]] = {}  # zip path -> (bytes, what it is)
    problems: list[dict] = []

    html = render_report(db, scan_id, "html", target_id)
    files["report/report.html"] = (html.encode("utf-8"), "the target's report (HTML)")
    if pdf:
        from reports.pdf import html_to_pdf

        files["report/report.pdf"] = (html_to_pdf(html), "the same report printed by Chromium")

    fetches = list(db.query("SELECT * FROM fetches WHERE scan_id = ? AND target_id = ? ORDER BY id",
                            [scan_id, target_id]))
    # A read-only database made before m008_evidence has no bodies to pack.
    bodies = {row["sha256"]: row for row in db.query(
        """SELECT * FROM bodies WHERE sha256 IN (SELECT raw_sha256 FROM fetches
           WHERE scan_id = ? AND target_id = ?)""", [scan_id, target_id])} \
        if "bodies" in db.table_names() else {}
    unusable: dict[str, str] = {}  # sha256 -> why its stored file cannot be packed
    for fetch in fetches:
        for column in ("request_headers", "response_headers"):
            fetch[column] = _json(fetch.get(column))
        digest = fetch.get("raw_sha256")
        if not digest:
            continue
        body = bodies.get(digest) or {"sha256": digest, "path": None}
        name = f"bodies/{digest}{_body_extension(fetch.get('content_type'))}"
        if name not in files and digest not in unusable:
            try:
                files[name] = (read_body(db_path, body), f"raw body of {fetch['url']}")
            except BodyProblem as exc:
                unusable[digest] = str(exc)
                problems.append({"url": fetch["url"], "sha256": digest, "problem": str(exc)})
        if digest in unusable:
            fetch["body_problem"] = unusable[digest]
        else:
            fetch["body_file"] = name

    for artifact in db.query("""SELECT * FROM browser_artifacts WHERE scan_id = ? AND target_id = ?
                                ORDER BY id""", [scan_id, target_id]):
        folder = ARTIFACT_FOLDERS.get(artifact["kind"], artifact["kind"])
        name = f"{folder}/{artifact['sha256']}{Path(artifact['path']).suffix}"
        if name in files:
            continue
        try:
            data = (Path(db_path).resolve().parent / artifact["path"]).read_bytes()
        except OSError as exc:
            problems.append({"url": artifact["page_url"], "sha256": artifact["sha256"],
                             "problem": f"{artifact['path']}: {exc.strerror or exc}"})
            continue
        if hashlib.sha256(data).hexdigest() != artifact["sha256"]:
            problems.append({"url": artifact["page_url"], "sha256": artifact["sha256"],
                             "problem": f"{artifact['path']}: {artifact['kind']} changed since "
                                        "it was stored (sha256 differs)"})
            continue
        files[name] = (data, f"{artifact['kind']} of {artifact['page_url']}")

    findings = list(db.query("""SELECT * FROM findings WHERE scan_id = ? AND target_id = ?
                                ORDER BY id""", [scan_id, target_id]))
    document_ids = sorted({f["document_id"] for f in fetches + findings if f.get("document_id")})
    documents = [dict(d) for d in db.query(
        f"SELECT * FROM documents WHERE id IN ({','.join('?' * len(document_ids))}) ORDER BY id",
        document_ids)] if document_ids else []
    files["findings.json"] = (_json_bytes(findings), "the target's findings in this scan")
    files["fetches.json"] = (_json_bytes(fetches),
                             "every fetch: URLs, status, headers, times, raw body sha256")
    files["documents.json"] = (_json_bytes(documents),
                               "policy texts the findings' start/end offsets point into")
    rules = _rules_of(db, findings)
    if rules is not None:
        files["rules.json"] = (_json_bytes(rules), "the rules behind the findings, as recorded")

    manifest = {
        "case_file_format": CASE_FILE_FORMAT,
        "made_at": made_at.isoformat(timespec="seconds"),
        "made_with": {"tool": "child-privacy-scanner", "version": __version__},
        "database": str(Path(db_path).resolve()),
        "scan": {**scan_row, "options": _json(scan_row.get("options"))},
        "rules_version": scan_row.get("rules_version"),
        "tool_version": scan_row.get("tool_version"),
        "tracker_lists": list(db.query(
            "SELECT * FROM tracker_lists WHERE scan_id = ? ORDER BY load_order, name", [scan_id])),
        "target": {**target, **{k: _json(target.get(k)) for k in ("tags", "platforms", "policy_urls")}},
        "score": next(iter(db.query("SELECT score, grade, status, explanation FROM scores "
                                    "WHERE scan_id = ? AND target_id = ?", [scan_id, target_id])),
                      None),
        "files": [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                   "what": what} for name, (data, what) in sorted(files.items())],
        "problems": problems,
    }
    if manifest["score"]:
        manifest["score"]["explanation"] = load_explanation(
            db, scan_id, target_id, manifest["score"]["explanation"])
    files["manifest.json"] = (_json_bytes(manifest), "")

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    stamp = made_at.astimezone(dt.timezone.utc).timetuple()[:6]
    partial = out_path.with_name(f".{out_path.name}.{os.getpid()}.part")
    order = sorted(name for name in files if name != "manifest.json") + ["manifest.json"]
    with zipfile.ZipFile(partial, "w") as archive:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name][0])
    partial.replace(out_path)
    digest = hashlib.sha256(out_path.read_bytes()).hexdigest()
    return CaseFile(path=out_path, sha256=digest, files=manifest["files"], problems=problems)


def check_case_file(path) -> list[str]:
    """Every way a case file's contents differ from its manifest, one line each (empty: intact)."""
    problems = []
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist()) - {"manifest.json"}
        manifest = json.loads(archive.read("manifest.json"))
        listed = {entry["path"]: entry for entry in manifest["files"]}
        for name, entry in sorted(listed.items()):
            if name not in names:
                problems.append(f"{name}: listed in the manifest, not in the file")
                continue
            data = archive.read(name)
            if hashlib.sha256(data).hexdigest() != entry["sha256"] or len(data) != entry["size"]:
                problems.append(f"{name}: sha256 or size differs from the manifest")
        problems += [f"{name}: not listed in the manifest" for name in sorted(names - set(listed))]
    return problems


def _rules_of(db, findings: list[dict]) -> list[dict] | None:
    """The `rules` rows of the findings' rule ids, when the database records rules."""
    if "rules" not in db.table_names() + db.view_names():
        return None
    ids = sorted({f["rule_id"] for f in findings if f.get("rule_id")}
                 | {r for f in findings for r in _json(f.get("also")) or ()})  # merged rules
    if not ids:
        return []
    columns = set(db["rules"].columns_dict)
    where = f"id IN ({','.join('?' * len(ids))})"
    if "scan_id" in columns:
        where += f" AND scan_id = {int(findings[0]['scan_id'])}"
    return list(db.query(f"SELECT * FROM rules WHERE {where} ORDER BY id", ids))


def _body_extension(content_type: str | None) -> str:
    lowered = (content_type or "").lower()
    for needle, extension in BODY_EXTENSIONS:
        if needle in lowered:
            return extension
    return ".bin"


def _json(value):
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _json_bytes(value) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
