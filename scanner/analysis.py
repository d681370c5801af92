"""After the crawl: cross-checks, then scores, for every target of the scan."""

from __future__ import annotations

from scanner.crosscheck import crosscheck_findings, curated_sdk_aliases, sdk_aliases_by_id
from scanner.scoring import score_target
from scanner.trackers import TrackerList


def analyse_scan(db, scan_id: int, targets, tracker_list: TrackerList,
                 sdk_signatures=None) -> list[dict]:
    """Replace the scan's cross-check findings, then score each target; return the scores rows.

    sdk_signatures: the scan's SDK signatures (their aliases name SDKs); the curated rules if None.
    """
    sdk_aliases = (curated_sdk_aliases() if sdk_signatures is None
                   else sdk_aliases_by_id(getattr(sdk_signatures, "signatures", sdk_signatures)))
    with db.conn:
        db.execute("DELETE FROM scan_findings WHERE scan_id = ? AND source = 'crosscheck'",
                   [scan_id])
        for target in targets:
            db["scan_findings"].insert_all(crosscheck_findings(db, scan_id, target, tracker_list,
                                                               sdk_aliases))
        scores = [score_target(db, scan_id, target) for target in targets]
        db["scores"].upsert_all(scores, pk=("scan_id", "target_id"))
    return scores
