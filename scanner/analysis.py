"""After the crawl: cross-checks, then scores, for every target of the scan."""

from __future__ import annotations

from scanner.crosscheck import crosscheck_findings
from scanner.observations import write_observations
from scanner.scoring import FINDING_COLUMNS, score_target, store_scores, target_findings
from scanner.trackers import TrackerList

# The columns the cross-checks and the scores read of a target's findings.
COLUMNS = (*FINDING_COLUMNS, "url")


def analyse_scan(db, scan_id: int, targets, tracker_list: TrackerList) -> list[dict]:
    """Replace the scan's cross-check findings, then score each target; return the scores rows.

    Each target's findings are read once: the cross-checks read its policy findings among them,
    and its score reads them with its new cross-check findings merged in by id (the order the
    findings view gives). A target's cross-checks change no other target's findings, so each
    target is cross-checked and then scored in turn."""
    scores: list[dict] = []
    known: dict = {}  # what scoring read and grouped, so that storing need not again
    with db.conn:
        db.execute("DELETE FROM scan_findings WHERE scan_id = ? AND source = 'crosscheck'",
                   [scan_id])
        db.execute("UPDATE observation_refs SET crosscheck_from = NULL WHERE scan_id = ?",
                   [scan_id])
        for target in targets:  # the same as the previous scan's: a reference to them
            findings = target_findings(db, scan_id, target.id, columns=COLUMNS)
            write_observations(db, scan_id, target.id, {
                "crosscheck": crosscheck_findings(db, scan_id, target, tracker_list,
                                                  findings=findings)})
            findings += target_findings(db, scan_id, target.id, source="crosscheck",
                                        columns=COLUMNS)
            findings.sort(key=lambda f: f["id"])
            scores.append(score_target(db, scan_id, target, known, findings))
        store_scores(db, scores, known)
    return scores
