"""The worker crawls, the scan process stores: what a worker sends over its pipe (documents,
raw bodies, a target's rows with its 'done' mark) arrives whole and in order, is written by
the one StoreWriter, a target whole or not at all, and a slow reader stalls the sender without
losing or reordering anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from scanner import store
from scanner.crawl import _signals_held, _stop
from scanner.evidence import body_columns, body_path
from scanner.store_writer import Forwarder, FrameReader, StoreWriter

POLICY = ("We may sell your personal information to advertisers. We collect your email address "
          "and your precise location. Parents may ask us to delete their child's data.")
BODY = b"<html><body>Kids Club</body></html>"


def read_all(fd: int) -> list[tuple]:
    reader, messages = FrameReader(), []
    while chunk := os.read(fd, 7):  # odd-sized reads: frames arrive split anywhere
        reader.feed(chunk)
        while (message := reader.next()) is not None:
            messages.append(message)
    return messages


def test_messages_arrive_whole_and_in_order_however_the_bytes_are_read():
    read_fd, write_fd = os.pipe()
    sent = [("body", {"sha256": "ab" * 32, "data": bytes(range(256)) * 3}),
            ("rows", 1, "kids", {"fetches": [{"url": "https://kids.example/", "status": 200}]}),
            ("target", 1, "kids", {}, 0.5, True)]
    forwarder = Forwarder(write_fd)
    for message in sent:
        getattr(forwarder, message[0])(*message[1:])
    os.close(write_fd)
    assert read_all(read_fd) == sent
    os.close(read_fd)


def test_a_full_pipe_stalls_the_sender_until_the_reader_reads():
    read_fd, write_fd = os.pipe()  # the default 64 KB buffer: a 200 KB message cannot fit
    forwarder = Forwarder(write_fd)
    big = {"fetches": [{"url": f"https://kids.example/{i}", "raw": f"{i:x>1000}"} for i in range(200)]}
    sender = threading.Thread(target=lambda: [forwarder.rows(1, f"t{i}", big) for i in range(3)])
    sender.start()
    sender.join(0.3)
    assert sender.is_alive(), "the sender went on though nobody read"
    reader, messages = FrameReader(), []
    while len(messages) < 3:
        reader.feed(os.read(read_fd, 65536))
        while (message := reader.next()) is not None:
            messages.append(message)
    sender.join(5)
    assert not sender.is_alive()
    assert [m[2] for m in messages] == ["t0", "t1", "t2"] and messages[0][3] == big
    os.close(read_fd)
    os.close(write_fd)


def test_a_sender_whose_reader_is_gone_stops_sending_without_an_error():
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    forwarder = Forwarder(write_fd)
    forwarder.target(1, "kids", {})  # EPIPE: Python ignores SIGPIPE
    assert forwarder.gone
    forwarder.target(1, "other", {})
    os.close(write_fd)


def started_scan(db_path) -> tuple:
    db = store.open_db(db_path)
    scan_id = store.start_scan(db, rules_version="test", targets_file="t.yaml", options={})
    store.mark_targets(db, scan_id, ["kids", "other"], "pending")
    return db, scan_id


def document(scan_id: int, text: str = POLICY) -> dict:
    return {"sha256": store.text_sha256(text), "text": text, "content_type": "text/html",
            "lang": "en", "title": "Privacy", "scan_id": scan_id,
            "url": "https://kids.example/privacy", "headings": None, "read_with": "static",
            "findings_version": "v-test", "classify_lang": "en"}


def fetch(scan_id: int, target_id: str = "kids", digest: str | None = None, **extra) -> dict:
    return {"scan_id": scan_id, "target_id": target_id, "url": "https://kids.example/privacy",
            "final_url": "https://kids.example/privacy", "kind": "policy", "status": 200,
            "error": None, "document_id": None, "document_sha256": digest,
            "content_type": "text/html", "fetched_at": "2026-12-02T10:00:00+00:00",
            "discovered_by": "homepage", "read_with": "static",
            "findings_version": "v-test" if digest else None, **extra}


def test_the_writer_stores_a_batch_in_one_commit_and_names_documents_by_their_id(tmp_path):
    db_path = tmp_path / "w.db"
    db, scan_id = started_scan(db_path)
    writer = StoreWriter(db, db_path)
    doc = document(scan_id)
    body = {"sha256": body_columns(BODY)["raw_sha256"], "data": BODY, "content_type": "text/html",
            "scan_id": scan_id, "url": "https://kids.example/"}
    told, failed = writer.write([
        ("document", doc), ("body", body),
        ("target", scan_id, "kids", {"fetches": [fetch(scan_id, digest=doc["sha256"],
                                                       **body_columns(BODY))]}, 1.5, True)])
    assert failed == [] and told == [("kids", 1.5, True)]
    (document_id,) = [r[0] for r in db.execute("SELECT id FROM documents")]
    row = db.execute("SELECT document_id, raw_sha256 FROM fetches").fetchone()
    assert row == (document_id, body["sha256"])
    assert "document_sha256" not in db["fetches"].columns_dict
    assert db["document_findings"].count_where("document_id = ? AND findings_version = 'v-test'",
                                               [document_id]) > 0  # classified by the writer
    assert body_path(db_path, body["sha256"]).exists()
    assert db.execute("SELECT status FROM scan_targets WHERE target_id = 'kids'").fetchone() == \
        ("done",)


def test_a_message_that_cannot_be_written_is_rolled_back_alone(tmp_path):
    db_path = tmp_path / "w.db"
    db, scan_id = started_scan(db_path)
    writer = StoreWriter(db, db_path)
    doc = document(scan_id)
    # "other" names a document never sent: its rows and its done mark are not written, half or
    # whole; what came before and after it is.
    told, failed = writer.write([
        ("document", doc),
        ("target", scan_id, "other", {"third_parties": [{"scan_id": scan_id, "target_id": "other",
                                                         "host": "ads.example"}],
                                      "fetches": [fetch(scan_id, "other", "0" * 64)]}, None, False),
        ("target", scan_id, "kids", {"fetches": [fetch(scan_id, digest=doc["sha256"])]}, None, True)])
    assert told == [("kids", None, True)]
    assert [(m[2], type(e)) for m, e in failed] == [("other", LookupError)]
    assert dict(db.execute("SELECT target_id, status FROM scan_targets")) == {
        "kids": "done", "other": "pending"}
    assert [r[0] for r in db.execute("SELECT target_id FROM fetches")] == ["kids"]
    assert db["third_parties"].count == 0


def test_a_target_written_twice_adds_no_row(tmp_path):
    db_path = tmp_path / "w.db"
    db, scan_id = started_scan(db_path)
    writer = StoreWriter(db, db_path)
    message = ("target", scan_id, "kids", {"fetches": [fetch(scan_id)]}, None, True)
    assert writer.write([message])[0] == [("kids", None, True)]
    assert writer.write([("target", scan_id, "kids", {"fetches": [fetch(scan_id)]}, None, True)]) \
        == ([], [])
    assert db["fetches"].count == 1


def test_a_rolled_back_batch_forgets_the_ids_it_gave(tmp_path):
    db_path = tmp_path / "w.db"
    db, scan_id = started_scan(db_path)
    writer = StoreWriter(db, db_path)

    class Interrupted(BaseException):
        pass

    def interrupt(*args):
        raise Interrupted

    writer.rows = interrupt  # a Ctrl-C in the middle of the batch
    with pytest.raises(Interrupted):
        writer.write([("document", document(scan_id)), ("rows", scan_id, "kids", {})])
    assert db["documents"].count == 0 and writer.document_ids == {}


def test_a_signal_inside_the_write_waits_for_its_end():
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with _signals_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs between bytecodes: it would have raised here
            reached.append("end of the write")
    assert reached == ["end of the write"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


SENDS_ON_SIGTERM = """
import os, signal, sys, time
sys.path.insert(0, {root!r})
from scanner.store_writer import Forwarder
forwarder = Forwarder({fd})
stopping = []
signal.signal(signal.SIGTERM, lambda *a: stopping.append(1))
print("ready", flush=True)
while not stopping:
    time.sleep(0.01)
for i in range(40):  # 4 MB: more than the pipe holds, as a stopping worker may still send
    forwarder.rows(1, f"t{{i}}", {{"fetches": [{{"raw": f"{{i:x>100000}}"}}]}})
"""


def test_stopping_workers_are_read_while_they_stop_so_none_blocks_on_a_full_pipe():
    read_fd, write_fd = os.pipe()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-c", SENDS_ON_SIGTERM.format(root=root, fd=write_fd)],
                            pass_fds=[write_fd], stdout=subprocess.PIPE, text=True)
    os.close(write_fd)
    assert proc.stdout.readline() == "ready\n"
    os.set_blocking(read_fd, False)
    reader, messages = FrameReader(), []

    def read():
        time.sleep(0.01)
        try:
            while chunk := os.read(read_fd, 1 << 20):
                reader.feed(chunk)
        except BlockingIOError:
            pass
        while (message := reader.next()) is not None:
            messages.append(message)

    class Worker:
        pass

    worker = Worker()
    worker.proc = proc
    started = time.monotonic()
    _stop([worker], read)
    read()
    assert proc.returncode == 0, "the worker was killed: it blocked on its pipe"
    assert time.monotonic() - started < 15
    assert [m[2] for m in messages] == [f"t{i}" for i in range(40)]
    proc.stdout.close()
    os.close(read_fd)


TRACKED_HTML = ("<html><head><script src='https://www.google-analytics.com/analytics.js'></script>"
                "<link rel=stylesheet href='/site.css'></head><body>"
                "<img src='https://cdn.kids.example/logo.png'>"
                "<img src='https://ads.doubleclick.net/pixel' width=1 height=1></body></html>")


def test_the_writer_makes_a_pages_third_parties_from_the_html_a_worker_sends(tmp_path):
    from scanner.resources import PageResources, extract_resources
    from scanner.store_writer import THIRD_PARTIES, third_party_observations
    from scanner.trackers import TrackerList

    db_path = tmp_path / "w.db"
    db, scan_id = started_scan(db_path)
    page = {"scan_id": scan_id, "target_id": "kids", "page_url": "https://kids.example/",
            "resources": PageResources(TRACKED_HTML, "https://kids.example/", True)}
    read_fd, write_fd = os.pipe()
    Forwarder(write_fd).target(scan_id, "kids", {
        "fetches": [fetch(scan_id)], "third_parties": [{THIRD_PARTIES: page}],
        "findings": [{THIRD_PARTIES: page}]}, None, True)
    os.close(write_fd)
    (message,) = read_all(read_fd)
    os.close(read_fd)
    assert page["resources"].extracted is None  # the worker sent the HTML, not what it loads
    told, failed = StoreWriter(db, db_path).write([message])
    assert failed == [] and told == [("kids", None, True)]
    trackers = TrackerList.load()
    resources = [(r.url, r.via) for r in extract_resources(TRACKED_HTML, "https://kids.example/")]
    rows, findings = third_party_observations(scan_id, "kids", "https://kids.example/", resources,
                                              trackers)
    assert [r["request_url"] for r in rows] == [
        "https://www.google-analytics.com/analytics.js", "https://ads.doubleclick.net/pixel"]
    assert [(r["request_url"], r["via"]) for r in db["third_parties"].rows] == [
        (r["request_url"], r["via"]) for r in rows]
    assert findings and db["findings"].count == len(findings)


def test_a_pages_third_party_rows_and_findings_take_its_placeholders_place(tmp_path):
    from scanner.store_writer import THIRD_PARTIES
    from scanner.trackers import TrackerList

    db_path = tmp_path / "w.db"
    db, scan_id = started_scan(db_path)
    writer = StoreWriter(db, db_path, trackers=TrackerList.load())
    page = {"scan_id": scan_id, "target_id": "kids", "page_url": "https://kids.example/",
            "resources": [("https://www.google-analytics.com/analytics.js", "script")]}
    resolved = writer._resolved({"third_parties": [{"n": 1}, {THIRD_PARTIES: page}, {"n": 2}],
                                 "findings": [{"n": 3}, {THIRD_PARTIES: page}, {"n": 4}]})
    third, found = resolved["third_parties"], resolved["findings"]
    assert [r.get("n") for r in third] == [1, None, 2] and third[1]["host"] == "www.google-analytics.com"
    assert found[0] == {"n": 3} and found[-1] == {"n": 4} and len(found) >= 3
    assert all(THIRD_PARTIES not in r for r in third + found)


POLICY_HTML = (b"<html><head><title>Privacy at Kids Club</title></head><body><nav>Home Games</nav>"
               b"<main><h1>Privacy Policy</h1><p>" + POLICY.encode() + b"</p></main></body></html>")


def test_the_writer_extracts_a_policy_pages_text_as_the_worker_did(tmp_path):
    from scanner.extract import extract_document
    from scanner.store_writer import POLICY_BODY, findings_version

    db_path = tmp_path / "w.db"
    db, scan_id = started_scan(db_path)
    writer = StoreWriter(db, db_path)
    pages = {}
    for name, body in (("policy", POLICY_HTML), ("blank", b"<html><body> </body></html>")):
        key = f"{name}-key text/html"
        pages[name] = {POLICY_BODY: key, "body": body, "content_type": "text/html",
                       "scan_id": scan_id, "url": f"https://kids.example/{name}",
                       "read_with": "static"}
    told, failed = writer.write([
        ("document", pages["policy"]), ("document", pages["blank"]),
        ("target", scan_id, "kids", {"fetches": [
            fetch(scan_id, **{POLICY_BODY: "policy-key text/html"}),
            fetch(scan_id, url="https://kids.example/blank",
                  **{POLICY_BODY: "blank-key text/html"})]}, None, True),
        ("target", scan_id, "other", {"fetches": [  # bytes never sent
            fetch(scan_id, "other", **{POLICY_BODY: "lost-key text/html"})]},
         None, True)])
    assert told == [("kids", None, True)]
    assert [(m[2], type(e)) for m, e in failed] == [("other", LookupError)]
    expected = extract_document(POLICY_HTML, "text/html", "https://kids.example/policy")
    [doc] = db["documents"].rows
    assert (doc["text"], doc["title"], doc["lang"], doc["sha256"]) == (
        expected.text, expected.title, expected.lang, store.text_sha256(expected.text))
    assert db["document_findings"].count_where("document_id = ?", [doc["id"]]) > 0
    rows = list(db.execute("SELECT url, document_id, findings_version FROM fetches ORDER BY id"))
    assert rows == [("https://kids.example/privacy", doc["id"], findings_version()),
                    ("https://kids.example/blank", None, None)]  # no text: no document
    # The same bytes again (another target's fetch of one policy) store nothing more.
    assert writer.write([("document", pages["policy"])]) == ([], [])
    assert db["documents"].count == 1


def test_rows_held_before_a_target_is_done_are_written_with_it_and_a_failed_hold_fails_it(
        tmp_path):
    from scanner.store_writer import THIRD_PARTIES
    from scanner.trackers import TrackerList

    db_path = tmp_path / "w.db"
    db, scan_id = started_scan(db_path)
    writer = StoreWriter(db, db_path, trackers=TrackerList.load())
    page = {"scan_id": scan_id, "target_id": "kids", "page_url": "https://kids.example/",
            "resources": [("https://www.google-analytics.com/analytics.js", "script")]}
    broken = {**page, "target_id": "other", "resources": None}  # cannot be iterated
    told, failed = writer.write([
        ("hold", scan_id, "kids", {"fetches": [fetch(scan_id, url="https://kids.example/")],
                                   "third_parties": [{THIRD_PARTIES: page}],
                                   "findings": [{THIRD_PARTIES: page}]}),
        ("hold", scan_id, "other", {"third_parties": [{THIRD_PARTIES: broken}]}),
        ("hold", scan_id, "kids", {"fetches": [fetch(scan_id)]})])
    assert told == [] and [(m[0], m[2]) for m, _ in failed] == [("hold", "other")]
    assert db["fetches"].count == 0  # held, not written, until the target is done
    # the third parties were made when held: the page's HTML is not kept until the end
    assert THIRD_PARTIES not in writer.held.rows["kids"]["third_parties"][0]
    told, failed = writer.write([("target", scan_id, "kids", {}, 1.5, True),
                                 ("target", scan_id, "other", {}, 1.0, True)])
    assert told == [("kids", 1.5, True)] and [(m[2], type(e)) for m, e in failed] == [
        ("other", TypeError)]
    assert [r["url"] for r in db.query("SELECT url FROM fetches ORDER BY id")] == [
        "https://kids.example/", "https://kids.example/privacy"]
    assert [r["host"] for r in db["third_parties"].rows] == ["www.google-analytics.com"]
    assert db["findings"].count_where("target_id = 'kids'") >= 1
    done = {r["target_id"]: r["status"] for r in db["scan_targets"].rows}
    assert done == {"kids": "done", "other": "pending"}
    assert not writer.held.rows and not writer.hold_failures
