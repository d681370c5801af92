"""The `scanner` command line: one click group; every command's help ends with an example.

Longer than 500 lines because every command lives in this one entry module (docs/architecture.md);
a command parses its options and calls the module that does the work.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from scanner import __version__
from scanner.options import (
    AUTO_WORKERS_MAX,
    DEFAULT_OPTIONS,
    WORKERS_AUTO,
    ScanOptions,
    auto_workers,
    loopback_forced,
)


def db_option(fn):
    return click.option(
        "--db", "db_path", required=True, type=click.Path(dir_okay=False),
        help="SQLite results database (created if missing).",
    )(fn)


def fail(message: str, code: int = 2):
    """One-line error on stderr, then exit (2 = bad input)."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@contextlib.contextmanager
def database_lock(db_path, on_refused=None, **lock_options):
    """Hold the database's scan lock (scanner.lock) for the block; another scan holding it is
    one line and exit 5 (on_refused is told first)."""
    from scanner.exitcodes import ExitCode
    from scanner.lock import ScanLock, ScanLockHeld

    lock = ScanLock(db_path, **lock_options)
    try:
        lock.acquire()
    except ScanLockHeld as exc:
        if on_refused:
            on_refused(exc)
        fail(str(exc), ExitCode.DATABASE_LOCKED)
    try:
        yield lock
    finally:
        lock.release()


def write_output(content: str, output: str | None, what: str) -> None:
    """Write to the -o file (and say so on stderr), or to stdout."""
    if output:
        Path(output).write_text(content, encoding="utf-8")
        click.echo(f"wrote {output} ({what})", err=True)
    else:
        click.echo(content, nl=False)


@click.group()
@click.version_option(__version__, prog_name="scanner")
def cli():
    """Privacy-risk scanner for child-facing apps and websites.

    Example: scanner scan targets/demo.yaml --db results.db --allow-private
    """


class WorkerCount(click.ParamType):
    """--workers: a number from 1 to 64, or 'auto' (one per core, at most AUTO_WORKERS_MAX)."""

    name = "workers"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or str(value).strip().lower() != WORKERS_AUTO:
            return click.IntRange(1, 64).convert(value, param, ctx)
        return auto_workers()


def _check_shard(ctx, param, value):
    """--shard I/N: a bad spec is bad input (exit 2) before anything is opened."""
    from scanner.shard import Shard, ShardError

    try:
        return str(Shard.parse(value)) if value else ""
    except ShardError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.argument("targets_file", type=click.Path(dir_okay=False))
@db_option
@click.option("--browser", is_flag=True, help="Load pages in Chromium to see trackers injected by JavaScript.")
@click.option("--max-pages", default=DEFAULT_OPTIONS.max_pages, show_default=True,
              type=click.IntRange(1, 500), help="Same-site pages to visit per target for third parties.")
@click.option("--max-policy-pages", default=DEFAULT_OPTIONS.max_policy_pages, show_default=True,
              type=click.IntRange(1, 100),
              help="Policy documents to fetch per target (split policies, notices).")
@click.option("--allow-private", is_flag=True,
              help="Allow private and loopback addresses (tests, demo, intranet registries).")
@click.option("--resume", is_flag=True,
              help="Continue the database's last scan if it did not complete (only the targets "
                   "not yet done are crawled); otherwise start a new scan.")
@click.option("--workers", default=DEFAULT_OPTIONS.workers, show_default=WORKERS_AUTO,
              type=WorkerCount(), metavar="N|auto",
              help="Batches of targets crawled at once, each by a process of its own; 'auto': "
                   f"one per CPU core, at most {AUTO_WORKERS_MAX} (about 100 MB each).")
@click.option("--batch-size", default=DEFAULT_OPTIONS.batch_size, show_default=True,
              type=click.IntRange(1, 10000), help="Targets per worker process.")
@click.option("--ignore-robots", is_flag=True,
              help="Fetch pages robots.txt disallows (a regulator's mandate); see docs/crawling.md.")
@click.option("--log-level", default=DEFAULT_OPTIONS.log_level, show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]))
@click.option("--wait", is_flag=True,
              help="If another scan holds the database, wait for it to end instead of exiting 5.")
@click.option("--wait-timeout", type=click.FloatRange(0), metavar="SECONDS",
              help="With --wait: give up (exit 5) after this many seconds (default: no limit).")
@click.option("--log-file", type=click.Path(dir_okay=False),
              help="Append timestamped progress lines (one per target) and the final status here.")
@click.option("--shard", default="", metavar="I/N", callback=_check_shard,
              help="Scan only shard I of N: the targets whose id hashes to I (docs/scale.md).")
def scan(targets_file, db_path, browser, max_pages, max_policy_pages, allow_private, resume,
         workers, batch_size, log_level, ignore_robots, wait, wait_timeout, log_file, shard):
    """Scan every target of TARGETS_FILE once and store the results in --db.

    Exit codes (docs/scheduling.md): 0 complete (some targets may be unreachable), 2 bad input,
    3 interrupted (Ctrl-C, SIGTERM, a worker died: run again with --resume), 4 every target
    unreachable, 5 another scan holds the database. One scan per database: a second one exits 5
    naming the running scan, or waits with --wait. Finished targets are committed as they finish.
    --resume keeps the options the scan was started with; --workers, --batch-size and
    --log-level apply to the run that resumes it.

    Example: scanner scan targets/examples/child-apps.yaml --db results.db --log-file scan.log
    """
    # Light imports first: the workers start (and import Scrapy) while this process goes on.
    from scanner.crawl import WorkerLauncher, split_batches
    from scanner.exitcodes import EXIT_CODE_MEANINGS, ExitCode, scan_exit_code
    from scanner.summary import ScanProgress, print_summary
    from scanner.targets import TargetsError, load_targets

    try:
        targets = load_targets(targets_file)
    except TargetsError as exc:
        fail(str(exc))
    options = ScanOptions(
        allow_private=allow_private, loopback_only=loopback_forced(), max_pages=max_pages,
        max_policy_pages=max_policy_pages, browser=browser, ignore_robots=ignore_robots,
        workers=workers, batch_size=batch_size, log_level=log_level, shard=shard,
    )
    with ScanProgress(log_file) as progress:
        with database_lock(db_path, wait=wait, timeout=wait_timeout,
                           on_wait=lambda held: progress.say(f"waiting: {held}"),
                           on_refused=lambda held: progress.log_line(f"refused: {held}")) as lock, \
                WorkerLauncher(lock) as launcher:
            # As many as a new scan of these targets runs at once (a resumed or sharded scan
            # with fewer batches lets the rest go).
            launcher.warm(min(options.workers, len(split_batches(targets, options))))
            from scanner import store
            from scanner.crawl import mark_abandoned_scans, resumable_scan, run_scan

            if lock.stale_message:
                progress.say(lock.stale_message)
            db = store.open_db(db_path)
            for scan_id in mark_abandoned_scans(db):
                progress.say(f"scan {scan_id} was left running by a process that is gone: "
                             "marked interrupted")
            resume_scan_id = None
            if resume:
                unfinished = resumable_scan(db)
                if unfinished:
                    resume_scan_id = unfinished["id"]
                    options = options.resuming(unfinished["options"])
                    progress.say(f"resuming scan {resume_scan_id} ({unfinished['status']})")
                else:
                    progress.say("no unfinished scan to resume: starting a new one")
            db.close()
            from scanner.shard import select_shard  # --shard, or the shard a resumed scan had

            targets = select_shard(targets, options.shard)
            if options.browser:  # checked after --resume, which may restore it
                from scanner.browser import browser_problem

                if problem := browser_problem():
                    fail(problem)
            try:
                outcome = run_scan(db_path, targets, str(targets_file), options,
                                   resume_scan_id=resume_scan_id, events=progress, lock=lock,
                                   launcher=launcher)
            except KeyboardInterrupt:  # a second Ctrl-C while stopping, or during the analysis
                progress.say("interrupted: the scan is marked interrupted; "
                             "run again with --resume")
                sys.exit(ExitCode.INTERRUPTED)
        print_summary(db_path, outcome.scan_id)
        code = scan_exit_code(outcome.status, outcome.score_statuses)
        progress.final(outcome, int(code), EXIT_CODE_MEANINGS[code])
    sys.exit(int(code))


@cli.command()
@click.argument("source", default="-", type=click.File("r", encoding="utf-8"))
@click.option("--lang", default="auto", type=click.Choice(["en", "th", "auto"]), show_default=True)
@click.option("--format", "fmt", default="text", type=click.Choice(["text", "json", "jsonl"]),
              show_default=True)
def classify(source, lang, fmt):
    """Run the policy rules on a text (a file or - for stdin) and print the findings.

    Example: echo "We may sell your personal information." | scanner classify -
    """
    from dataclasses import asdict

    from scanner.matching import classify as run_rules, load_rules

    text = source.read()
    findings = run_rules(text, load_rules(), lang=lang)
    if fmt == "json":
        click.echo(json.dumps([asdict(f) for f in findings], ensure_ascii=False, indent=2))
    elif fmt == "jsonl":
        for f in findings:
            click.echo(json.dumps(asdict(f), ensure_ascii=False))
    else:
        for f in findings:
            # One line a finding: the phrase that fired, then the sentence it stands in.
            phrase = " ".join(text[f.match_start:f.match_end].split()) \
                if f.match_start is not None and (f.match_start, f.match_end) != (f.start, f.end) else ""
            shown = f'"{phrase[:80]}" in: ' if phrase else ""
            click.echo(f"{f.polarity:10} {f.severity:8} {f.rule_id:40} [{f.start}:{f.end}] "
                       f"{shown}{' '.join(f.evidence.split())[:160]}")
        click.echo(f"{len(findings)} findings")


@cli.group()
def rules():
    """Check and evaluate the policy rule files.

    Example: scanner rules check
    """


@rules.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def rules_check(paths):
    """Validate rule files and run every rule's own match / no_match examples.

    Example: scanner rules check rules/policy/en/sale.yaml
    """
    from scanner.rulecheck import check_rule_paths

    problems, count = check_rule_paths([Path(p) for p in paths])
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        fail(f"{len(problems)} problem(s) in {count} rules", code=1)
    click.echo(f"{count} rules OK (schema valid, every match / no_match example passes)")


@cli.command()
@db_option
@click.option("--scan", "scan", default="latest", show_default=True, help="Scan id or 'latest'.")
@click.option("--format", "fmt", default="html",
              type=click.Choice(["html", "md", "csv", "json", "pdf"]), show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--target", "target_id", help="Only this target (its id in the targets file).")
def report(db_path, scan, fmt, output, target_id):
    """Report of one scan (or one target of it) in HTML, Markdown, CSV or JSON.

    HTML is one self-contained file with inline SVG charts; docs/reports.md documents the
    CSV columns and JSON keys.

    Example: scanner report --db results.db --format html -o report.html
    """
    from reports import render_report
    from scanner import store

    db = _open_existing_db(db_path)
    try:
        scan_id = store.resolve_scan_id(db, scan)
        content = render_report(db, scan_id, "html" if fmt == "pdf" else fmt, target_id)
    except LookupError as exc:
        fail(f"{db_path}: {exc}")
    if fmt == "pdf":  # the HTML report printed by Chromium (reports/pdf.py)
        write_pdf_report(content, output, f"scan {scan_id}")
        return
    write_output(content, output, f"scan {scan_id}")


@cli.command()
@click.option("--db", "db_path", default="demo/results.db", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--report", "report_path", default="demo/report.html", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--browser", is_flag=True, help="Also load the demo pages in Chromium.")
def demo(db_path, report_path, browser):
    """Serve the bundled sample child-app sites on loopback, scan them, write the report.

    Example: scanner demo --db demo/results.db --report demo/report.html
    """
    from reports import render_report
    from scanner import store
    from scanner.crawl import run_scan
    from scanner.demo.apps import with_demo_apks
    from scanner.demo.server import DEMO_TARGETS_FILE, serve_demo_sites
    from scanner.summary import print_summary
    from scanner.targets import load_targets

    if browser:
        from scanner.browser import browser_problem

        if problem := browser_problem():
            fail(problem)
    from scanner.demo.server import DemoPortError

    from scanner.exitcodes import ExitCode
    from scanner.lock import ScanLock, ScanLockHeld
    from scanner.summary import ScanProgress

    try:
        with serve_demo_sites() as servers, ScanProgress() as progress:
            click.echo(f"serving {len(servers)} demo sites on 127.0.0.1", err=True)
            targets, note = with_demo_apks(load_targets(DEMO_TARGETS_FILE),
                                           Path(db_path).parent / "apks")
            if note:
                progress.say(note)
            options = ScanOptions(allow_private=True, loopback_only=True, browser=browser)
            with ScanLock(db_path) as lock:
                if lock.stale_message:
                    progress.say(lock.stale_message)
                outcome = run_scan(db_path, targets, str(DEMO_TARGETS_FILE), options,
                                   events=progress, lock=lock)
    except DemoPortError as exc:
        fail(str(exc))
    except ScanLockHeld as exc:
        fail(str(exc), ExitCode.DATABASE_LOCKED)
    except KeyboardInterrupt:
        fail("interrupted", ExitCode.INTERRUPTED)
    scan_id = outcome.scan_id
    db = store.open_db(db_path)
    Path(report_path).parent.mkdir(parents=True, exist_ok=True)
    Path(report_path).write_text(render_report(db, scan_id, "html"), encoding="utf-8")
    print_summary(db_path, scan_id)
    click.echo(f"database: {db_path}\nreport:   {report_path}")


@rules.command("eval")
@click.argument("labelled_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--mode", default="topic", type=click.Choice(["topic", "practice"]), show_default=True,
              help="topic: any finding of a category counts; practice: only risk findings count.")
@click.option("--format", "fmt", default="text", type=click.Choice(["text", "json"]),
              show_default=True)
@click.option("--lang", default="auto", type=click.Choice(["en", "th", "auto"]), show_default=True)
@click.option("--errors", "show_errors", default=0, type=click.IntRange(0), show_default=True,
              help="Also print up to N misclassified records (text format).")
@click.option("--context/--no-context", "in_context", default=True, show_default=True,
              help="Judge a list item with the lead-in record it follows ('We use it to:'), as "
                   "in a whole policy; --no-context judges every record alone.")
def rules_eval(labelled_file, mode, fmt, lang, show_errors, in_context):
    """Precision, recall and F1 per category of the policy rules on a labelled JSONL file.

    Each line: {"id": ..., "text": ..., "labels": {"collection": true, "sale": null, ...}};
    null labels are left out of that category's score. An optional "practice_labels" mapping
    (is the practice stated as done?) is what --mode practice scores when a record has it.

    Example: scanner rules eval ../shared/eval/opp115-dev.jsonl --mode topic --format json
    """
    from scanner.evaluate import EvalFileError, evaluate, format_table, read_labelled
    from scanner.matching import RuleError, load_rules

    try:
        records = read_labelled(Path(labelled_file))
        rule_set = load_rules()
    except (EvalFileError, RuleError) as exc:
        fail(str(exc))
    result = evaluate(records, rule_set, mode=mode, lang=lang, keep_errors=bool(show_errors),
                      in_context=in_context)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(format_table(result, f"{labelled_file}: {result.records} records, mode {mode}, "
                                    f"{result.with_lead_in} list items judged with their lead-in"))
    for record_id, category, kind, text in result.errors[:show_errors]:
        click.echo(f"{kind} {category:20} {record_id}: {' '.join(text.split())[:200]}")


@cli.command()
@db_option
@click.option("--from", "from_scan", help="Earlier scan id (default: the scan before --to).")
@click.option("--to", "to_scan", default="latest", show_default=True, help="Later scan id or 'latest'.")
@click.option("--format", "fmt", default="text", type=click.Choice(["text", "md", "json"]),
              show_default=True)
@click.option("--target", "target_ids", multiple=True, help="Only this target (repeatable).")
@click.option("--all", "show_all", is_flag=True, help="List unchanged targets too (text and md).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def diff(db_path, from_scan, to_scan, fmt, target_ids, show_all, output):
    """What changed between two scans (default: the last two), per target.

    Grade, score and status changes; new and resolved findings (by rule id and evidence); new
    and gone third-party domains; policy documents whose text changed at the same URL.

    Example: scanner diff --db results.db --from 3 --to 5 --format md
    """
    from reports.diff import render_diff
    from scanner.diff import diff_scans, resolve_diff_scans

    db = _open_existing_db(db_path)
    try:
        from_id, to_id = resolve_diff_scans(db, from_scan, to_scan)
    except LookupError as exc:
        fail(f"{db_path}: {exc}")
    result = diff_scans(db, from_id, to_id, target_ids=list(target_ids) or None)
    content = render_diff(result, fmt, only_changed=not show_all)
    write_output(content, output, f"scan {from_id} -> {to_id}")


@cli.command()
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False, exists=True),
              help="SQLite results database.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (0.0.0.0 exposes the data to the network).")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
def serve(db_path, host, port):
    """Browse the results in Datasette, with table docs and canned queries for common questions.

    Example: scanner serve --db results.db --port 8001
    """
    from scanner.serve import serve as run_datasette
    from scanner.store import DatabaseFileError

    try:
        run_datasette(db_path, host=host, port=port,
                      on_ready=lambda note: click.echo(
                          f"Datasette on http://{host}:{port}/{note} (Ctrl-C to stop)", err=True))
    except DatabaseFileError as exc:
        fail(str(exc))


@cli.group()
def trackers():
    """Tracker lists: import public lists, look up how a request is classified.

    Example: scanner trackers import --format disconnect services.json
    """


@trackers.command("import")
@click.option("--format", "fmt", required=True, type=click.Choice(["disconnect", "ddg", "exodus", "abp"]),
              help="disconnect: services.json or entities.json; ddg: DuckDuckGo TDS (web or app); "
                   "exodus: Exodus trackers JSON; abp: an Adblock Plus filter list (EasyPrivacy, ...).")
@click.argument("list_file", type=click.Path(dir_okay=False))
@click.option("--name", help="Name of the imported list and its file (default from the format or file).")
@click.option("--out-dir", type=click.Path(file_okay=False),
              help="Where to write <name>.yaml (default rules/trackers/imported).")
@click.option("--list-version", "list_version", help="Version to record (default: the list's own, else its sha256).")
@click.option("--license", "licence", help="Licence of the data to record (default: what the list or its publisher states).")
@click.option("--category", help="Tracker category for every entry (ABP lists: default guessed from the title).")
def trackers_import(fmt, list_file, name, out_dir, list_version, licence, category):
    """Import a public tracker list into the tracker rules (the list itself is not copied).

    Domain lists become rules/trackers/imported/<name>.yaml in the project's model; a filter
    list is referenced by its path and matched at scan time. See docs/trackers.md.

    Example: scanner trackers import --format abp ~/lists/easyprivacy.txt
    """
    from scanner.importers import IMPORTED_DIR, ListImportError, import_list

    try:
        result = import_list(fmt, Path(list_file), Path(out_dir) if out_dir else IMPORTED_DIR,
                             name=name, version=list_version, license=licence, category=category)
    except ListImportError as exc:
        fail(str(exc))
    what = f"{result.domains} filters" if fmt == "abp" else f"{result.entities} entries, {result.domains} domains"
    click.echo(f"imported {what} from {list_file} as '{result.name}' (version {result.version}, "
               f"licence {result.license})")
    if result.skipped:
        click.echo(f"skipped {result.skipped} entries with no domain", err=True)
    click.echo(f"wrote {result.path}")


@trackers.command("update")
@click.option("--only", "only", multiple=True, metavar="NAME",
              help="Update only this list (repeatable): disconnect, ddg, easyprivacy, exodus.")
@click.option("--source", "sources", multiple=True, metavar="NAME=URL",
              help="Download this list from URL instead of its publisher (a mirror; repeatable).")
@click.option("--out-dir", type=click.Path(file_okay=False),
              help="Where to write <name>.yaml and the downloads (default rules/trackers/imported).")
@click.option("--allow-private", is_flag=True, help="Allow private addresses (an intranet mirror).")
@click.option("--max-size", "max_mb", default=50, show_default=True, type=click.IntRange(1, 2048),
              help="Largest download accepted, in MB.")
@click.option("--timeout", default=60, show_default=True, type=click.IntRange(1, 3600),
              help="Seconds allowed for one list's download.")
def trackers_update(only, sources, out_dir, allow_private, max_mb, timeout):
    """Download the current Disconnect, DuckDuckGo, EasyPrivacy and Exodus lists and import them.

    Each list's licence is shown (Disconnect and DuckDuckGo data are non-commercial). A list that
    fails is reported on one line and its previous import is kept; exit 1 if any failed.

    Example: scanner trackers update --only ddg --only easyprivacy
    """
    from scanner.importers import IMPORTED_DIR
    from scanner.list_update import (LISTS_BY_NAME, PUBLIC_LISTS, ListUpdateError, licence_notice,
                                     parse_sources, update_list)

    try:
        urls = parse_sources(sources)
    except ListUpdateError as exc:
        fail(str(exc))
    unknown = [name for name in only if name not in LISTS_BY_NAME]
    if unknown:
        fail(f"--only {unknown[0]!r}: unknown list; one of {', '.join(LISTS_BY_NAME)}")
    failed = 0
    for entry in PUBLIC_LISTS:
        if only and entry.name not in only:
            continue
        url = urls.get(entry.name, entry.url)
        result = update_list(entry, url, Path(out_dir) if out_dir else IMPORTED_DIR,
                             max_bytes=max_mb * 1024 * 1024, timeout=timeout,
                             allow_private=allow_private)
        if result.ok:
            click.echo(f"{entry.name}: {result.message}, version {result.version} from {url} "
                       f"({licence_notice(entry)}) -> {result.path}")
        else:
            failed += 1
            click.echo(f"{entry.name}: failed: {result.message}", err=True)
    if failed:
        sys.exit(1)


@trackers.command("lookup")
@click.argument("url")
@click.option("--page", "page_url", default="https://example.org/", show_default=True,
              help="The page that makes the request (decides first or third party).")
@click.option("--via", default="script", show_default=True, help="How the page loads it (for filter lists).")
def trackers_lookup(url, page_url, via):
    """Show how a request would be classified: party, entity, category, the rule that fires.

    Example: scanner trackers lookup https://connect.facebook.net/en_US/fbevents.js
    """
    from urllib.parse import urlsplit

    from scanner.resources import tracker_ids
    from scanner.tracker_classify import classify_request
    from scanner.trackers import TrackerList, TrackerListError, is_third_party, registrable_domain

    host = urlsplit(url).hostname
    if not host:
        fail(f"{url}: not an absolute URL")
    try:
        tracker_list = TrackerList.load()
    except TrackerListError as exc:
        fail(str(exc))
    third = is_third_party(host, urlsplit(page_url).hostname or "", tracker_list)
    info, rule_id, list_source = classify_request(tracker_list, url, page_url, via)
    click.echo(f"domain:      {registrable_domain(host)}")
    click.echo(f"party:       {'third' if third else 'first'}")
    click.echo(f"entity:      {info.entity if info else tracker_list.entity_of(host) or '-'}")
    click.echo(f"category:    {info.category if info else '-'}")
    click.echo(f"data broker: {'yes' if info and info.is_data_broker else 'no'}")
    click.echo(f"rule:        {rule_id or '-'} ({list_source or 'no list'})")
    ids = tracker_ids(url)
    if ids:
        click.echo(f"tracker ids: {', '.join(ids)}")


def _open_existing_db(db_path: str):
    """An existing results database to read (read-only or archived ones too); a missing file or
    one that is not a scanner database is one line, exit 2."""
    from scanner import store

    try:
        return store.open_for_reading(db_path)
    except store.DatabaseFileError as exc:
        fail(str(exc))


@cli.command()
@db_option
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1),
              help="How many of the latest scans to show.")
@click.option("--format", "fmt", default="text", type=click.Choice(["text", "json"]),
              show_default=True)
def status(db_path, limit, fmt):
    """Recent scans: state (running, complete, interrupted), duration, targets done / failed /
    pending, findings and scores, the pending targets of an unfinished scan, the lock's holder.

    A 'running' scan whose process no longer holds the lock shows as 'interrupted (stale)'.

    Example: scanner status --db results.db --limit 5
    """
    from scanner.history import render_status_text, scan_status, to_json

    result = scan_status(_open_existing_db(db_path), db_path, limit=limit)
    click.echo(to_json(result) if fmt == "json" else render_status_text(result), nl=False)


@cli.command()
@db_option
@click.option("--target", "target_id", required=True, help="The target's id in the targets file.")
@click.option("--findings", "findings_per_scan", default=3, show_default=True,
              type=click.IntRange(0), help="Key risk findings shown per scan (most severe first).")
@click.option("--format", "fmt", default="text", type=click.Choice(["text", "json"]),
              show_default=True)
def history(db_path, target_id, findings_per_scan, fmt):
    """One target over time: grade, score, status and key risk findings in every scan that
    included it, and what changed since its previous scan (grade better / worse, new risks).

    Example: scanner history --db results.db --target tiny-tunes-tv
    """
    from scanner.history import render_history_text, target_history, to_json

    db = _open_existing_db(db_path)
    try:
        result = target_history(db, target_id, findings_per_scan)
    except LookupError as exc:
        fail(f"{db_path}: {exc}")
    click.echo(to_json(result) if fmt == "json" else render_history_text(result), nl=False)


@cli.group()
def apps():
    """Android apps: the SDKs, permissions and version an APK carries.

    Example: scanner apps analyse kids-game.apk
    """


@apps.command("analyse")
@click.argument("apks", nargs=-1, required=True)
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "json"]), show_default=True)
@click.option("--sdk-rules", "sdk_rules", multiple=True, type=click.Path(exists=True),
              help="SDK rule file or folder (repeatable; default rules/sdks).")
@click.option("--exodus", "exodus_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Exodus signature file (repeatable; default: what `scanner trackers import "
                   "--format exodus` wrote in rules/trackers/imported).")
@click.option("--no-exodus", is_flag=True, help="Match the curated SDK rules only.")
@click.option("--max-mb", default=None, type=click.IntRange(1, 100_000),
              help="Largest APK accepted, in MB (default 300).")
@click.option("--allow-private", is_flag=True, help="Let an APK URL point at a private or loopback address.")
def apps_analyse(apks, fmt, sdk_rules, exodus_files, no_exodus, max_mb, allow_private):
    """Package, version, permissions and SDKs (with the class that proves each) of APKs.

    APK is a path or an http(s) URL (streamed to a temporary folder). A bad APK prints one line
    naming it and the reason; the others are still analysed; the exit code is then 1.

    Example: scanner apps analyse --format json kids-game.apk other.apk
    """
    import tempfile

    from scanner.apps import (MAX_APK_BYTES, AppAnalysisError, SdkRuleError, analyse_apk,
                              analysis_json, analysis_table, fetch_apk, is_url, load_signatures)

    try:
        signatures = load_signatures(list(sdk_rules) or None, [] if no_exodus else (list(exodus_files) or None))
    except SdkRuleError as exc:
        fail(str(exc))
    max_bytes = max_mb * 1024 * 1024 if max_mb else MAX_APK_BYTES
    records, failed = [], 0
    with tempfile.TemporaryDirectory(prefix="scanner-apk-") as download_dir:
        for apk in apks:
            try:
                path = fetch_apk(apk, download_dir, max_bytes, allow_private=allow_private) if is_url(apk) else apk
                analysis = analyse_apk(path, signatures, max_bytes)
            except AppAnalysisError as exc:
                failed += 1
                reason = str(exc).removeprefix(f"{apk}: ")
                click.echo(f"Error: {apk}: {reason}", err=True)
                if fmt == "json":
                    records.append({"file": apk, "error": reason})
                continue
            if fmt == "json":
                records.append(analysis_json(analysis, apk))
            else:
                click.echo(analysis_table(analysis, apk) + "\n")
    if fmt == "json":
        click.echo(json.dumps(records, indent=2, ensure_ascii=False))
    sys.exit(1 if failed else 0)


@cli.command()
@click.argument("out_db", type=click.Path(dir_okay=False))
@click.argument("shard_dbs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--into", default=None, metavar="ID|latest|new",
              help="Add to this merged scan, or start a new one (default: the scan already holding "
                   "one of the shards, else the latest merged scan missing such a shard, else new).")
@click.option("--force-rules", is_flag=True,
              help="Merge shards scanned with other rule versions than the merged scan's.")
@click.option("--targets-file", default=None,
              help="The registry the shards split, recorded as the merged scan's targets_file.")
def merge(out_db, shard_dbs, into, force_rules, targets_file):
    """Merge shard databases (`scanner scan --shard I/N` on N machines) into one scan of OUT_DB.

    Documents are stored once per sha256, ids remapped; cross-checks and scores are kept as the
    node computed them (per target, same rules). Merging a shard again adds nothing. The merged
    scan is 'complete' only when shards 1..N are all there and each completed. A corrupt shard,
    one from another tool or with other rules (without --force-rules) prints one line and brings
    nothing; the others are merged. Exit 0, or 2 when a shard was refused. See docs/scale.md.

    Example: scanner merge results.db node1/shard.db node2/shard.db
    """
    from scanner.exitcodes import ExitCode
    from scanner.merge import MergeError, merge_shards

    if into not in (None, "latest", "new") and not str(into).isdigit():
        fail(f"--into {into!r}: expected a scan id, 'latest' or 'new'")
    with database_lock(out_db):
        try:
            outcome = merge_shards(out_db, shard_dbs, into=into, force_rules=force_rules,
                                   targets_file=targets_file,
                                   on_result=lambda r: click.echo(
                                       f"Error: {r.line()}" if r.status == "refused" else r.line(),
                                       err=r.status == "refused"))
        except MergeError as exc:
            fail(f"{out_db}: {exc}")
    if outcome.scan_id is None:
        fail("no shard could be merged")
    gaps = []
    if outcome.missing_shards:
        gaps.append(f"shards not merged: {', '.join(outcome.missing_shards)}")
    if outcome.unfinished_shards:
        gaps.append(f"shards that did not complete: {', '.join(outcome.unfinished_shards)}")
    click.echo(f"scan {outcome.scan_id}: {outcome.status}" + (f" ({'; '.join(gaps)})" if gaps else ""))
    sys.exit(ExitCode.BAD_INPUT if outcome.refused else ExitCode.COMPLETE)


@cli.command()
@click.option("--scrapyd", "nodes", multiple=True, required=True, metavar="URL",
              help="A Scrapyd node (repeatable): one shard each.")
@click.argument("targets_file", type=click.Path(dir_okay=False, exists=True))
@db_option
@click.option("--shards", type=click.IntRange(1, 10000), default=None,
              help="Split the registry into this many shards (default: one per reachable node).")
@click.option("--shared-dir", type=click.Path(file_okay=False),
              help="A folder every node and this machine see (NFS, ...): the registry and the "
                   "shard databases go through it instead of HTTP.")
@click.option("--no-deploy", is_flag=True,
              help="Run the egg already deployed on the nodes instead of building and deploying one.")
@click.option("--allow-private", is_flag=True,
              help="Allow private and loopback addresses (intranet registries, tests).")
@click.option("--max-pages", default=DEFAULT_OPTIONS.max_pages, show_default=True,
              type=click.IntRange(1, 500), help="Same-site pages to visit per target.")
@click.option("--max-policy-pages", default=DEFAULT_OPTIONS.max_policy_pages, show_default=True,
              type=click.IntRange(1, 100), help="Policy documents to fetch per target.")
@click.option("--browser", is_flag=True, help="Load pages in Chromium (it must be on every node).")
@click.option("--workers", default=DEFAULT_OPTIONS.workers, show_default=True,
              type=click.IntRange(1, 64), help="Worker processes per node.")
@click.option("--batch-size", default=DEFAULT_OPTIONS.batch_size, show_default=True,
              type=click.IntRange(1, 10000), help="Targets per worker process.")
@click.option("--ignore-robots", is_flag=True, help="Fetch pages robots.txt disallows.")
@click.option("--poll", "poll_seconds", default=2.0, show_default=True, type=click.FloatRange(0.05),
              help="Seconds between two looks at the nodes' jobs.")
@click.option("--timeout", type=click.FloatRange(1), metavar="SECONDS",
              help="Give up on shards not finished by then (reported not done).")
def dispatch(nodes, targets_file, db_path, shards, shared_dir, no_deploy, allow_private, max_pages,
             max_policy_pages, browser, workers, batch_size, ignore_robots, poll_seconds, timeout):
    """Scan TARGETS_FILE on Scrapyd nodes, one shard each, and merge the shards into --db.

    Builds and deploys the egg (addversion.json), schedules the shard_scan job per node
    (schedule.json), follows them (listjobs.json), brings each shard database back over HTTP
    (or through --shared-dir) and merges it (`scanner merge`). A node that is unreachable, has an
    old egg or fails its shard is named in one line and its shard runs on another node, or is
    reported not done. Exit 0 when the merged scan is complete, 3 when shards are missing or
    incomplete, 2 on bad input or when no node can run the job. See docs/scale.md.

    Example: scanner dispatch --scrapyd http://node1:6800 --scrapyd http://node2:6800 registry.yaml --db results.db
    """
    from scanner.dispatch import DispatchError, dispatch as run_dispatch
    from scanner.exitcodes import ExitCode
    from scanner.scrapyd_job import EggBuildError
    from scanner.targets import TargetsError, load_targets

    try:
        load_targets(targets_file)  # bad input stops here, before any node is asked
    except TargetsError as exc:
        fail(str(exc))
    options = ScanOptions(allow_private=allow_private, loopback_only=loopback_forced(),
                          max_pages=max_pages, max_policy_pages=max_policy_pages, browser=browser,
                          workers=workers, batch_size=batch_size, ignore_robots=ignore_robots)
    with database_lock(db_path):  # one scan per database, a distributed one included
        try:
            outcome = run_dispatch(list(nodes), targets_file, db_path, options=options,
                                   shards=shards, shared_dir=shared_dir, deploy=not no_deploy,
                                   poll_seconds=poll_seconds, timeout=timeout,
                                   report=lambda line: click.echo(line,
                                                                  err=line.startswith("Error:")))
        except (DispatchError, EggBuildError) as exc:
            fail(str(exc))
    merged = outcome.merge
    not_done = [str(run.shard) for run in outcome.not_done]
    if merged is None or merged.scan_id is None:
        fail("no shard came back: nothing merged", ExitCode.INTERRUPTED)
    missing = sorted(set(not_done) | set(merged.missing_shards))
    click.echo(f"scan {merged.scan_id}: {merged.status}"
               + (f" (shards not done: {', '.join(missing)})" if missing else ""))
    sys.exit(ExitCode.COMPLETE if merged.status == "complete" else ExitCode.INTERRUPTED)


def write_pdf_report(html: str, output: str | None, what: str) -> None:
    """Print the HTML report to the -o PDF file with Chromium; one line when it cannot."""
    from reports.pdf import PdfError, html_to_pdf

    if not output:
        fail("--format pdf writes a file: give -o FILE.pdf")
    try:
        pdf = html_to_pdf(html)
    except PdfError as exc:
        fail(str(exc), 1)
    Path(output).write_bytes(pdf)
    click.echo(f"wrote {output} ({what}, PDF)", err=True)


@cli.command()
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help="SQLite results database (with its <db>.evidence folder beside it).")
@click.option("--target", "target_id", required=True, help="The target's id in the targets file.")
@click.option("--scan", "scan", default="latest", show_default=True, help="Scan id or 'latest'.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The case file to write (a .zip).")
@click.option("--no-pdf", is_flag=True, help="Leave the PDF report out (no Chromium needed).")
def evidence(db_path, target_id, scan, output, no_pdf):
    """A case file of one target in one scan: report (HTML, PDF), raw bodies, screenshots, HAR,
    findings, fetches with headers and times, and a manifest of every file's sha256.

    A stored file whose sha256 no longer matches is left out and listed (exit 1). The last line
    printed is the case file's own sha256, for the officer's notes. docs/evidence.md.

    Example: scanner evidence --db results.db --target abc-learning --scan 3 -o abc-scan3.zip
    """
    from reports.pdf import PdfError, pdf_problem
    from scanner.evidence import EvidenceError, build_case_file

    db = _open_existing_db(db_path)  # a read-only or archived database is read as it is
    if not no_pdf and (problem := pdf_problem()):
        fail(f"{problem} (or give --no-pdf)")
    try:
        case = build_case_file(db, db_path, scan, target_id, output, pdf=not no_pdf)
    except (EvidenceError, LookupError) as exc:
        fail(f"{db_path}: {exc}")
    except PdfError as exc:
        fail(str(exc), 1)
    except OSError as exc:  # the case file's folder cannot be written
        fail(f"{output}: {exc.strerror or exc}")
    for problem in case.problems:
        click.echo(f"Error: {problem['problem']} (fetched from {problem['url']}): left out of "
                   "the case file", err=True)
    click.echo(f"wrote {case.path} ({len(case.files) + 1} files, manifest.json included)")
    click.echo(f"sha256 {case.sha256}  {case.path}")
    if case.problems:
        sys.exit(1)


if __name__ == "__main__":
    cli()
