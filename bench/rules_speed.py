"""Speed of the policy rule engine: MB of policy text classified per second on one core.

English: the labelled dev texts (../shared/eval/*.jsonl) joined into ~20 KB documents, as in
bench/accuracy.py; without them, the rules' examples, tests/data and the demo policies.
Thai: the Thai rules' examples, tests/data/benign_sentences_th.txt and the Thai demo policy,
timed cold (token cache empty) with the share spent in pythainlp (sentence cutting, words).

Run: .venv/bin/python bench/rules_speed.py [--reference] [--rules DIR] [--limit N] [--slowest N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scanner.matching import _trimmed, classify, load_rules  # noqa: E402
from scanner.text import _thai_sentence_spans, extract_html_text, split_sentences  # noqa: E402

EVAL_DIR = ROOT.parent / "shared" / "eval"
DEMO_SITES = ROOT / "scanner" / "demo" / "sites"
TARGET_MB_S = 2.0
DOCUMENT_CHARS = 20_000


def as_documents(texts: list[str]) -> list[str]:
    """Whole policies, not segments: texts joined into documents of about 20 KB."""
    documents, current, size = [], [], 0
    for text in texts:
        current.append(text)
        size += len(text)
        if size > DOCUMENT_CHARS:
            documents.append("\n".join(current))
            current, size = [], 0
    if current:
        documents.append("\n".join(current))
    return documents


def english_texts(rules) -> tuple[list[str], str]:
    texts = []
    for path in sorted(EVAL_DIR.glob("*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            texts.extend(json.loads(line)["text"] for line in handle if line.strip())
    if texts:
        return texts, f"{EVAL_DIR}/*.jsonl"
    texts = [s for r in rules if r.lang == "en" for s in r.examples["match"] + r.examples["no_match"]]
    texts.append((ROOT / "tests" / "data" / "benign_sentences.txt").read_text(encoding="utf-8"))
    for page in sorted(DEMO_SITES.glob("*/*privacy*.html")):
        if page.parent.name != "dek-dee-thai":
            texts.append(extract_html_text(page.read_text(encoding="utf-8")).text)
    return texts, "rule examples, tests/data and demo policies (no ../shared/eval here)"


def thai_texts(rules) -> list[str]:
    texts = [s for r in rules if r.lang == "th" for s in r.examples["match"] + r.examples["no_match"]]
    texts.append((ROOT / "tests" / "data" / "benign_sentences_th.txt").read_text(encoding="utf-8"))
    for page in sorted((DEMO_SITES / "dek-dee-thai").glob("*.html")):
        texts.append(extract_html_text(page.read_text(encoding="utf-8")).text)
    return texts


def timed(function) -> tuple[float, object]:
    started = time.process_time()
    result = function()
    return time.process_time() - started, result


def megabytes(documents: list[str]) -> float:
    return sum(len(d.encode("utf-8")) for d in documents) / 1e6


def bench_english(rules, documents: list[str], reference: bool) -> float:
    classify(documents[0], rules, lang="en")  # compile the rules and warm the word caches
    size = megabytes(documents)
    split_seconds, _ = timed(lambda: [split_sentences(d, "en") for d in documents])
    # The fastest of three passes is the cost least disturbed by other processes (as timeit
    # reports); the slowest shows how noisy the machine was.
    passes = [timed(lambda: sum(len(classify(d, rules, lang="en")) for d in documents))
              for _ in range(3)]
    seconds, findings = min(passes)
    rate = size / seconds
    verdict = "ok" if rate >= TARGET_MB_S else "BELOW"
    print(f"EN  {size:.1f} MB, {len(documents)} documents, "
          f"{sum(r.lang == 'en' for r in rules)} rules: {seconds:.2f} s CPU = {rate:.2f} MB/s "
          f"per core, fastest of 3 passes (slowest {size / max(passes)[0]:.2f}) ({findings} "
          f"findings; sentence splitting {split_seconds / seconds:.0%} of it)"
          f"; target >= {TARGET_MB_S} MB/s {verdict}")
    if reference:
        slow, _ = timed(lambda: [classify(d, rules, lang="en", fast=False) for d in documents])
        print(f"EN  reference path (every rule, every sentence, plain search): {size / slow:.2f} "
              f"MB/s per core")
    return rate


def bench_thai(rules, documents: list[str]) -> float:
    from scanner import thai

    def forget() -> None:  # the caches of sentence cuts and word tokens start empty
        _thai_sentence_spans.cache_clear()
        thai.tokenized_form.cache_clear()

    classify(documents[0][:2000], rules, lang="th")  # load the dictionary and the CRF model once
    size = megabytes(documents)
    forget()
    split_seconds, spans = timed(lambda: [split_sentences(d, "th") for d in documents])
    sentences = [d[slice(*_trimmed(d, *s))] for d, doc_spans in zip(documents, spans, strict=True)
                 for s in doc_spans]
    token_seconds, _ = timed(lambda: [thai.tokenized_form(s) for s in sentences])
    forget()
    cold, _ = timed(lambda: [classify(d, rules, lang="th") for d in documents])
    warm, _ = timed(lambda: [classify(d, rules, lang="th") for d in documents])
    print(f"TH  {size * 1000:.0f} KB, {len(sentences)} sentences, "
          f"{sum(r.lang == 'th' for r in rules)} rules: {size / cold:.2f} MB/s per core "
          f"(pythainlp: sentence cutting {split_seconds / cold:.0%}, word tokens "
          f"{token_seconds / cold:.0%} of it); the same text again (cut and token caches warm): "
          f"{size / warm:.2f} MB/s")
    return size / cold


def slowest_rules(rules, documents: list[str], count: int) -> None:
    """Each English rule timed alone on the documents, less the cost of no rule at all."""
    english = [r for r in rules if r.lang == "en"]
    size = megabytes(documents)

    def seconds(chosen) -> float:
        classify(documents[0], chosen, lang="en")
        return min(timed(lambda: [classify(d, chosen, lang="en") for d in documents])[0]
                   for _ in range(3))

    base = seconds([])
    costs = sorted(((seconds([rule]) - base, rule.id) for rule in english), reverse=True)
    print(f"\nslowest rules on {size:.1f} MB (CPU seconds per MB over the cost of no rule, "
          f"{base / size:.3f} s/MB):")
    for cost, rule_id in costs[:count]:
        print(f"  {cost / size:7.3f}  {rule_id}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true",
                        help="also time classify(fast=False), the straightforward path")
    parser.add_argument("--rules", type=Path, help="a rules directory other than rules/policy")
    parser.add_argument("--limit", type=int, help="only the first N English documents")
    parser.add_argument("--slowest", type=int, metavar="N",
                        help="also list the N costliest English rules (timed alone, 20 documents)")
    args = parser.parse_args()
    rules = load_rules(sorted(args.rules.rglob("*.yaml"))) if args.rules else load_rules()
    texts, source = english_texts(rules)
    documents = as_documents(texts)[: args.limit]
    print(f"English text: {source}")
    bench_english(rules, documents, args.reference)
    bench_thai(rules, as_documents(thai_texts(rules)))
    if args.slowest:
        slowest_rules(rules, documents[:20], args.slowest)


if __name__ == "__main__":
    main()
