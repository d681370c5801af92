"""What a crawl stores, written by one implementation wherever the crawl runs: documents with
their policy findings and raw bodies (content-addressed, committed as they arrive), then each
target's rows with its 'done' mark in one transaction.

`StoreWriter` writes into a database: in the pipeline of a bare `scrapy crawl`, and in the scan
process of `scanner scan`, which reads what its workers send. A worker of `scanner scan` holds a
`Forwarder` instead: the same calls become messages over its pipe to the scan process (length-
prefixed pickles), so the worker only crawls and the scan process writes. A fetch row names its
document by `document_sha256` (a worker cannot know the id the writer gives it); the writer
resolves it to `document_id` before the rows are written.
"""

from __future__ import annotations

import os
import pickle
import struct
from functools import lru_cache
from urllib.parse import urlsplit

from scanner import __version__
from scanner.observations import ObservationBuffer
from scanner.resources import tracker_ids
from scanner.tracker_classify import classify_request, request_finding
from scanner.trackers import TrackerList, is_third_party, registrable_domain

_LENGTH = struct.Struct("!I")
# The largest pipe buffer an unprivileged process may ask for (Linux' default pipe-max-size): a
# worker then crawls on while the scan process analyses a target or commits one.
PIPE_BUFFER = 1 << 20


# What a stored finding holds beyond the rule's verdict: "also", the rules merged into it
# (m015). Rows stored before it have no `also`; a new tag makes a document's findings be
# stored again rather than read back without the rules merged into them.
FINDINGS_LAYOUT = "also"

# The rules, the matcher and the extractor are imported where used: a worker of `scanner scan`
# imports this module for its Forwarder only, and they are the scan process's work.


@lru_cache(maxsize=1)
def findings_version() -> str:
    """What the policy findings of a document depend on besides its text: the rule files and
    the matcher's code, what a stored finding holds (FINDINGS_LAYOUT), and the learned model's
    weights when one is enabled (scanner/model.py). A document's findings are stored once per
    findings version."""
    from scanner.matching import rules_version
    from scanner.model import model_version
    from scanner.rule_schema import LANGS

    models = "".join(f"+{lang}-model-{version}" for lang in LANGS
                     if (version := model_version(lang)) != "none")
    return f"{rules_version()}+{__version__}+{FINDINGS_LAYOUT}{models}"


@lru_cache(maxsize=1)
def policy_rules():
    from scanner.matching import load_rules

    return load_rules()


@lru_cache(maxsize=256)
def document_findings(key, text: str, lang: str, headings: tuple | None = None) -> tuple:
    """The rules' findings in one document (key: its sha256): computed once per scan, however
    many targets share the policy (one publisher's apps often do). headings: its outline. The
    learned model of the language, when one is enabled, adds its suggestions (no points)."""
    from scanner.matching import classify
    from scanner.model import load_model

    return tuple(classify(text, policy_rules(), lang=lang, headings=headings,
                          model=load_model(lang)))


class StoreWriter:
    """Writes what the crawl stores into `db` (its raw bodies beside `db_path`)."""

    def __init__(self, db, db_path, trackers: TrackerList | None = None):
        self.db = db
        self.db_path = db_path
        self.document_ids: dict[str, int] = {}  # sha256 -> id, of the documents written here
        # A target's rows sent before it is done (`hold`), its third parties made, until its
        # "target" message; why a target's held rows could not be made, if they could not.
        self.held = ObservationBuffer()
        self.hold_failures: dict[str, Exception] = {}
        # POLICY_BODY key -> the sha256 of the text extracted from those bytes (None: no text)
        self.policy_bodies: dict[str, str | None] = {}
        self._trackers = trackers  # else loaded at the first page's third parties

    @property
    def trackers(self) -> TrackerList:
        if self._trackers is None:
            self._trackers = TrackerList.load()
        return self._trackers

    @trackers.setter
    def trackers(self, trackers: TrackerList) -> None:
        self._trackers = trackers

    # -- the calls of the pipeline and of TargetCompletion ------------------------------------

    def document(self, document: dict) -> bool:
        """Store a policy text once by content, and its findings of this findings version
        unless they are stored already (classified here, once per writer); True when the text
        was new. A document holding POLICY_BODY is a page's bytes: its text is extracted here."""
        from scanner import store

        if POLICY_BODY in document:
            document = self._extracted(document)
            if document is None:
                return False
        with self.db.conn:
            document_id, created = store.store_document(
                self.db, text=document["text"], content_type=document["content_type"],
                lang=document["lang"], title=document["title"], scan_id=document["scan_id"],
                url=document["url"], headings=document["headings"])
            if created:  # how the text was first read: a plain fetch, or the rendered page
                self.db["documents"].update(document_id, {"read_with": document["read_with"]})
            version = document["findings_version"]
            if not store.has_document_findings(self.db, document_id, version):
                store.store_document_findings(self.db, document_id, version, document_findings(
                    document["sha256"], document["text"], document["classify_lang"],
                    None if document["headings"] is None else tuple(document["headings"])))
        self.document_ids[document["sha256"]] = document_id
        return created

    def _extracted(self, page: dict) -> dict | None:
        """The document a policy page's bytes make (extract_document, as the policy spider did
        before the text was the writer's to read); None when it has no text or it is stored
        already by this writer. Its text's sha256 is remembered by the page's key, for the
        fetches that name it."""
        from scanner.extract import extract_document
        from scanner.stamps import text_sha256

        extracted = extract_document(page["body"], page["content_type"], page["url"])
        text = extracted.text or None
        digest = self.policy_bodies[page[POLICY_BODY]] = text and text_sha256(text)
        if text is None or digest in self.document_ids:
            return None
        return {"sha256": digest, "text": text, "content_type": page["content_type"],
                "lang": extracted.lang or "und", "title": extracted.title or "",
                "scan_id": page["scan_id"], "url": page["url"], "headings": extracted.headings,
                "read_with": page["read_with"], "findings_version": findings_version(),
                "classify_lang": extracted.lang or "auto"}

    def body(self, body: dict) -> None:
        """Keep a raw body once by sha256 (scanner.evidence.store_body)."""
        from scanner.evidence import store_body  # (it imports Scrapy, via scanner.browser)

        with self.db.conn:
            store_body(self.db, self.db_path, body["data"], content_type=body["content_type"],
                       scan_id=body["scan_id"], url=body["url"], digest=body["sha256"])

    def rows(self, scan_id: int, target_id: str, observations: dict) -> None:
        """A target's rows, without marking it done (a bare crawl; a row arriving late)."""
        from scanner.observations import write_observations

        write_observations(self.db, scan_id, target_id, self._resolved(observations))

    def hold(self, scan_id: int, target_id: str, observations: dict) -> None:
        """Rows of a target not yet done, held here until it is (`target`): its pages' third
        parties are made now, while the crawl goes on, rather than all at its end."""
        try:
            self.held.add(target_id, self._made(observations))
        except Exception as exc:  # the target is failed when it is done, not written without
            self.hold_failures.setdefault(target_id, exc)
            raise

    def drop_held(self, target_id: str) -> None:
        """Forget the rows held for a target that will not be done (its worker died)."""
        self.held.pop(target_id)
        self.hold_failures.pop(target_id, None)

    def target(self, scan_id: int, target_id: str, observations: dict,
               seconds: float | None = None, reachable: bool = False) -> bool:
        """A target's rows (those held, then these) and its 'done' mark in one transaction;
        False (nothing written) if it is done already, so a message handled twice adds no row."""
        from scanner import store
        from scanner.observations import write_observations

        held = self.held.pop(target_id)
        failure = self.hold_failures.pop(target_id, None)
        with self.db.conn:
            if self.db.execute("SELECT 1 FROM scan_targets WHERE scan_id = ? AND target_id = ? "
                               "AND status = 'done'", [scan_id, target_id]).fetchone():
                return False
            if failure is not None:
                raise failure
            if held:
                for kind, rows in observations.items():
                    held.setdefault(kind, []).extend(rows)
                observations = held
            write_observations(self.db, scan_id, target_id, self._resolved(observations))
            store.mark_targets(self.db, scan_id, [target_id], "done")
        return True

    # -- messages from a worker's Forwarder ---------------------------------------------------

    def write(self, messages: list[tuple]) -> tuple[list[tuple], list[tuple]]:
        """Write the messages read at once in one transaction (one commit, not one each); each
        is written whole or not at all (a savepoint each). Returns ((target_id, seconds,
        reachable) of each target committed, (message, exception) of each not written)."""
        told, failed = [], []
        if all(message[0] == "hold" for message in messages):
            # Rows held in memory, nothing written: no transaction (most reads during a crawl)
            for message in messages:
                try:
                    self.handle(message)
                except Exception as exc:
                    failed.append((message, exc))
            return told, failed
        try:
            with self.db.conn:
                for message in messages:
                    self.db.execute("SAVEPOINT message")
                    try:
                        result = self.handle(message)
                    except Exception as exc:
                        self.db.execute("ROLLBACK TO message")
                        failed.append((message, exc))
                    else:
                        if result is not None:
                            told.append(result)
                    finally:
                        self.db.execute("RELEASE message")
        except BaseException:
            self.document_ids.clear()  # ids of rows rolled back with the transaction
            raise
        return told, failed

    def handle(self, message: tuple):
        """Write what one message of a worker carries; for a target written done, (target_id,
        seconds, reachable), else None."""
        kind, *args = message
        if kind == "hold":
            self.hold(*args)
            return None
        if kind == "target":
            scan_id, target_id, observations, seconds, reachable = args
            if self.target(scan_id, target_id, observations):
                return target_id, seconds, reachable
            return None
        getattr(self, _WRITES[kind])(*args)
        return None

    def _resolved(self, observations: dict) -> dict:
        """The fetch rows with `document_sha256` replaced by the document's id, and each page's
        THIRD_PARTIES placeholder by its third-party rows and findings, in its place."""
        for row in observations.get("fetches", ()):
            if POLICY_BODY in row:
                key = row.pop(POLICY_BODY)
                if key not in self.policy_bodies:
                    raise LookupError(f"a fetch names policy bytes {key}, which never arrived")
                if self.policy_bodies[key] is not None:
                    row["document_sha256"] = self.policy_bodies[key]
                    row["findings_version"] = findings_version()
            digest = row.pop("document_sha256", None)
            if digest is not None:
                row["document_id"] = self._document_id(digest)
        return self._made(observations)

    def _made(self, observations: dict) -> dict:
        """The observations with each page's THIRD_PARTIES placeholder replaced by its
        third-party rows and findings, in its place."""
        for kind, part in (("third_parties", 0), ("findings", 1)):
            rows = observations.get(kind)
            if rows and any(THIRD_PARTIES in row for row in rows):
                observations[kind] = [
                    made for row in rows for made in
                    (self._third_parties(row[THIRD_PARTIES])[part] if THIRD_PARTIES in row
                     else (row,))]
        return observations

    def _third_parties(self, page: dict) -> tuple[list[dict], list[dict]]:
        """A page's third-party rows and findings (made once: both lists name the page)."""
        made = page.get("made")
        if made is None:
            made = page["made"] = third_party_observations(
                page["scan_id"], page["target_id"], page["page_url"], page["resources"],
                self.trackers)
        return made

    def _document_id(self, digest: str) -> int:
        document_id = self.document_ids.get(digest)
        if document_id is None:  # written by another writer (a bare crawl's other spider)
            found = self.db.execute("SELECT id FROM documents WHERE sha256 = ?",
                                    [digest]).fetchone()
            if found is None:
                raise LookupError(f"a fetch names document {digest}, which was never stored")
            document_id = self.document_ids[digest] = found[0]
        return document_id


_WRITES = {"document": "document", "body": "body", "rows": "rows"}

# The key of a policy page's bytes, whose text the writer extracts (the policy spider's HTML and
# plain-text pages, outside browser mode): in a "document" message, beside the bytes, and in the
# fetch row of each fetch that read them, which the writer replaces with `document_sha256` and
# `findings_version` when the page has text. The crawl needs the links of a policy page, not its
# text: the worker only decodes it.
POLICY_BODY = "scanner_policy_body"

# The key of the row the pipeline puts in a page's "third_parties" and "findings" in place of its
# third-party rows and findings: {scan_id, target_id, page_url, resources}, one dict in both
# lists. The writer makes them (`third_party_observations`): tracker classification, and
# under `scanner scan` the page's resources too, are work of the scan process, not the worker's.
THIRD_PARTIES = "scanner_third_parties"


def third_party_observations(scan_id: int, target_id: str, page_url: str, resources,
                             trackers: TrackerList) -> tuple[list[dict], list[dict]]:
    """The third-party rows of one page's resources [(request_url, via)], and the findings of
    those the tracker list knows."""
    page_host = _hostname(page_url)
    rows, findings = [], []
    third_party: dict[str, bool] = {}  # by host: a page loads many files of a few hosts
    for request_url, via in resources:
        host = _hostname(request_url)
        if host and host not in third_party:
            third_party[host] = is_third_party(host, page_host, trackers)
        if not host or not third_party[host]:
            continue
        info, rule_id, list_source = classify_request(trackers, request_url, page_url, via)
        ids = tracker_ids(request_url)
        rows.append(
            {
                "scan_id": scan_id, "target_id": target_id, "page_url": page_url,
                "request_url": request_url, "host": host, "domain": registrable_domain(host),
                "entity": info.entity if info else trackers.entity_of(host),
                "category": info.category if info else None,
                "is_data_broker": int(info.is_data_broker) if info else 0, "via": via,
                "rule_id": rule_id, "tracker_ids": ",".join(ids) or None,
                "list_source": list_source,
            }
        )
        finding = info and request_finding(scan_id, target_id, info, rule_id,
                                           request_url=request_url, page_url=page_url,
                                           via=via, ids=ids)
        if finding:
            findings.append(finding)
    return rows, findings


@lru_cache(maxsize=4096)
def _hostname(url: str) -> str:
    """The URL's host, remembered: every page of a site loads the same files (urllib's own
    cache holds 128 URLs, fewer than a crawl interleaves)."""
    return urlsplit(url).hostname or ""


class Forwarder:
    """In a worker: the StoreWriter's calls sent to the scan process, which writes them in
    order. A full pipe blocks the worker's crawl until the scan process reads (backpressure);
    a closed one (the scan process is gone) drops what follows, as the worker is stopping."""

    def __init__(self, fd: int):
        self.fd = fd
        self.gone = False

    def document(self, document: dict) -> None:
        self._send(("document", document))

    def body(self, body: dict) -> None:
        self._send(("body", body))

    def rows(self, scan_id: int, target_id: str, observations: dict) -> None:
        self._send(("rows", scan_id, target_id, observations))

    def hold(self, scan_id: int, target_id: str, observations: dict) -> None:
        """Rows of a target not done yet: the scan process holds them until it is."""
        self._send(("hold", scan_id, target_id, observations))

    def target(self, scan_id: int, target_id: str, observations: dict,
               seconds: float | None = None, reachable: bool = False) -> None:
        self._send(("target", scan_id, target_id, observations, seconds, reachable))

    def _send(self, message: tuple) -> None:
        if self.gone:
            return
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(_LENGTH.pack(len(data)) + data)
        try:
            while view:
                view = view[os.write(self.fd, view):]
        except BrokenPipeError:
            self.gone = True


def widen_pipe(fd: int) -> None:
    """Ask for PIPE_BUFFER bytes of pipe buffer (Linux); elsewhere the default stays."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BUFFER)
    except (ImportError, AttributeError, OSError):
        pass


class FrameReader:
    """The scan process's end of a worker's pipe: whole messages out of the bytes read so far,
    one at a time (a Ctrl-C while one is written loses that one only)."""

    def __init__(self):
        self.buffer = bytearray()
        self.start = 0  # where the next message begins

    def feed(self, chunk: bytes) -> None:
        if self.start:
            del self.buffer[:self.start]
            self.start = 0
        self.buffer += chunk

    def next(self) -> tuple | None:
        """The next whole message, or None until more bytes are fed."""
        if len(self.buffer) - self.start < _LENGTH.size:
            return None
        (length,) = _LENGTH.unpack_from(self.buffer, self.start)
        end = self.start + _LENGTH.size + length
        if len(self.buffer) < end:
            return None
        data = self.buffer[self.start + _LENGTH.size:end]
        self.start = end
        return pickle.loads(data)
