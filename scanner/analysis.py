"""Cross-checks, then scores: each target as soon as its crawl is committed (the scan process,
while its workers crawl on: `ScanAnalysis`), or every target of a scan at once (`analyse_scan`)."""

from __future__ import annotations

import json

from scanner.crosscheck import crosscheck_findings
from scanner.observations import write_observations
from scanner.scoring import FINDING_COLUMNS, score_target, store_scores, target_findings
from scanner.trackers import TrackerList

# The columns the cross-checks and the scores read of a target's findings.
COLUMNS = (*FINDING_COLUMNS, "url")


def analyse_target(db, scan_id: int, target, tracker_list: TrackerList) -> dict:
    """Cross-check one target whose crawl is committed, replacing its earlier cross-check
    findings in this scan (a resumed scan's), then score it and store the score; return the
    scores row.

    The target's findings are read once, and the cross-checks made from them, before the write
    lock is taken (a done target's rows no longer change), so a worker committing other targets
    meanwhile waits only for the writes and the score: one short transaction. Its score reads
    them with the new cross-check findings merged in by id (the order the findings view gives)."""
    findings = [f for f in target_findings(db, scan_id, target.id, columns=COLUMNS)
                if f["source"] != "crosscheck"]
    crosschecks = crosscheck_findings(db, scan_id, target, tracker_list, findings=findings)
    known: dict = {}  # what scoring read and grouped, so that storing need not again
    with db.conn:
        _drop_crosschecks(db, scan_id, "target_id = ?", [target.id])
        write_observations(db, scan_id, target.id, {"crosscheck": crosschecks})
        findings += target_findings(db, scan_id, target.id, source="crosscheck",
                                    columns=COLUMNS)
        findings.sort(key=lambda f: f["id"])
        row = score_target(db, scan_id, target, known, findings)
        store_scores(db, [row], known)
    return row


def forget_other_crosschecks(db, scan_id: int, target_ids) -> None:
    """Drop the scan's cross-check findings of targets other than these (which were analysed
    again): a resumed scan's targets that are no longer done or no longer in its targets file."""
    kept = json.dumps(sorted(set(target_ids)))
    with db.conn:
        _drop_crosschecks(db, scan_id, "target_id NOT IN (SELECT value FROM json_each(?))", [kept])


def _drop_crosschecks(db, scan_id: int, targets: str, params: list) -> None:
    """Drop the scan's cross-check findings of the targets this SQL condition selects: its own
    rows, and its references to an earlier scan's (observation_refs.crosscheck_from)."""
    db.execute("DELETE FROM scan_findings WHERE scan_id = ? AND source = 'crosscheck' "
               f"AND {targets}", [scan_id, *params])
    db.execute("UPDATE observation_refs SET crosscheck_from = NULL WHERE scan_id = ? "
               f"AND crosscheck_from IS NOT NULL AND {targets}", [scan_id, *params])


class ScanAnalysis:
    """The analysis of one scan's targets, each on its own: `target_done` as each is committed
    done, `finish` for those left (targets done in an earlier run of a resumed scan, targets a
    worker finished without telling), then the cross-checks of targets not analysed dropped."""

    def __init__(self, db, scan_id: int, targets, tracker_list: TrackerList):
        self.db, self.scan_id, self.tracker_list = db, scan_id, tracker_list
        self.targets = list(targets)
        self.by_id = {target.id: target for target in self.targets}
        # target id -> its scores row as analysed, less its explanation (stored; tens of KB a
        # target, which held for the whole scan made the scan process grow with its targets)
        self.scores: dict[str, dict] = {}

    def target_done(self, target_id: str) -> dict | None:
        """Analyse a target of the scan now done (again: its row as analysed); None if the
        target is not among the scan's."""
        if target_id not in self.scores and target_id in self.by_id:
            row = analyse_target(self.db, self.scan_id, self.by_id[target_id], self.tracker_list)
            self.scores[target_id] = {k: v for k, v in row.items() if k != "explanation"}
        return self.scores.get(target_id)

    def finish(self, finished) -> list[dict]:
        """Analyse the finished targets not analysed yet; the scores rows of the finished, in
        the targets' order (as `analyse_scan` gives them)."""
        done = [target for target in self.targets if target.id in finished]
        for target in done:
            self.target_done(target.id)
        forget_other_crosschecks(self.db, self.scan_id, [target.id for target in done])
        return [self.scores[target.id] for target in done]


def analyse_scan(db, scan_id: int, targets, tracker_list: TrackerList) -> list[dict]:
    """Replace the scan's cross-check findings, then score each target; return the scores rows.
    One transaction: a target's cross-checks change no other target's findings, so each target
    is cross-checked and then scored in turn."""
    targets = list(targets)
    with db.conn:
        return ScanAnalysis(db, scan_id, targets, tracker_list).finish(
            {target.id for target in targets})
