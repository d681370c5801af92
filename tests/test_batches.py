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
