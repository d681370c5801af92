"""Deterministic sharding of a registry: which of N nodes scans which target, without coordination.

A target's shard depends only on its id and N (sha256 of the id, mod N), so every machine computes
the same split, and a target moves to another shard only when N changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ShardError(ValueError):
    """A shard spec that is not I/N with 1 <= I <= N; str() is the one-line message."""


def shard_of(target_id: str, count: int) -> int:
    """The shard (1..count) a target id belongs to."""
    digest = hashlib.sha256(target_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


@dataclasses.dataclass(frozen=True)
class Shard:
    index: int   # 1..count
    count: int

    @classmethod
    def parse(cls, spec: str) -> Shard:
        match = SHARD_RE.match(spec or "")
        if not match:
            raise ShardError(f"shard {spec!r}: expected I/N, e.g. 1/4")
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 1 <= index <= count:
            raise ShardError(f"shard {spec!r}: I must be between 1 and N (N >= 1)")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, target_id: str) -> bool:
        return shard_of(target_id, self.count) == self.index

    def select(self, targets) -> list:
        """The targets of this shard, in registry order."""
        return [t for t in targets if self.holds(t.id)]


def select_shard(targets, spec: str | None) -> list:
    """`targets` limited to shard `spec` ('I/N'); all of them when spec is empty."""
    return Shard.parse(spec).select(targets) if spec else list(targets)
