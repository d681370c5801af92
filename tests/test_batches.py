"""How a scan's targets are split into worker batches (scanner.crawl.split_batches): as few
worker processes as --batch-size allows, evenly filled, and one batch per worker when possible."""

import pytest

from scanner.crawl import split_batches
from scanner.options import ScanOptions


@pytest.mark.parametrize("targets, workers, batch_size, sizes", [
    (200, 1, 250, [200]),                   # a small scan: one worker process, not four
    (200, 2, 250, [100, 100]),              # both workers get a batch
    (1001, 1, 250, [201, 201, 201, 201, 197]),  # never above the batch size, evenly filled
    (7, 4, 2, [2, 2, 2, 1]),
    (3, 8, 250, [1, 1, 1]),                 # more workers than targets
    (0, 1, 250, []),
])
def test_batches_are_as_few_as_the_batch_size_allows_and_one_per_worker(targets, workers,
                                                                        batch_size, sizes):
    pending = list(range(targets))
    batches = split_batches(pending, ScanOptions(workers=workers, batch_size=batch_size))
    assert [len(batch) for batch in batches] == sizes
    assert [t for batch in batches for t in batch] == pending  # every target once, in order


def targets_on(*homepages):
    from scanner.targets import Target

    return [Target(id=f"t{i}", name=f"t{i}", audience="child-directed", homepage=url)
            for i, url in enumerate(homepages)]


def test_the_targets_of_one_site_share_a_batch_so_its_robots_txt_and_rate_are_one_crawlers():
    # kids-maths and redirector on one site, closed-port on another (tests/test_browser.py's
    # three targets): two workers used to split the site and fetch its robots.txt twice.
    pending = targets_on("http://127.0.0.1:8001/", "http://127.0.0.1:8002/",
                         "http://127.0.0.1:8001/leave")
    batches = split_batches(pending, ScanOptions(workers=2))
    assert [[t.id for t in batch] for batch in batches] == [["t0", "t2"], ["t1"]]
    # the host is the site, whatever the case or path; a port named is part of it
    pending = targets_on("https://Example.com/a", "https://other.org/", "https://example.com/b",
                         "https://example.com:8443/")
    batches = split_batches(pending, ScanOptions(workers=2))
    assert [[t.id for t in batch] for batch in batches] == [["t0", "t2"], ["t1", "t3"]]


def test_a_site_with_more_targets_than_a_batch_holds_is_split_at_the_batch_size():
    pending = targets_on(*[f"https://example.com/app{i}" for i in range(5)], "https://b.org/")
    batches = split_batches(pending, ScanOptions(workers=2, batch_size=2))
    assert [[t.id for t in batch] for batch in batches] == [["t0", "t1"], ["t2", "t3"],
                                                           ["t4", "t5"]]
    assert all(len(batch) <= 2 for batch in batches)
