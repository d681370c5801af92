"""After the crawl: cross-checks, then scores, for every target of the scan."""

from __future__ import annotations

from scanner.crosscheck import crosscheck_findings
from scanner.observations import write_observations
from scanner.scoring import score_target, store_scores
from scanner.trackers import TrackerList


def analyse_scan(db, scan_id: int, targets, tracker_list: TrackerList) -> list[dict]:
    """Replace the scan's cross-check findings, then score each target; return the scores rows."""
    with db.conn:
        db.execute("DELETE FROM scan_findings WHERE scan_id = ? AND source = 'crosscheck'",
                   [scan_id])
        db.execute("UPDATE observation_refs SET crosscheck_from = NULL WHERE scan_id = ?",
                   [scan_id])
        for target in targets:  # the same as the previous scan's: a reference to them
            write_observations(db, scan_id, target.id, {
                "crosscheck": crosscheck_findings(db, scan_id, target, tracker_list)})
        known: dict = {}  # what scoring read and grouped, so that storing need not again
        scores = [score_target(db, scan_id, target, known) for target in targets]
        store_scores(db, scores, known)
    return scores
