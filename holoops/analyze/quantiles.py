"""Quantiles: Prometheus ``histogram_quantile`` semantics and a mergeable log-bucket sketch.

:func:`histogram_quantile` follows Prometheus: buckets sorted by ``le`` with a ``+Inf`` bucket
required (NaN otherwise), cumulative counts made monotonic, rank ``q * count``; linear
interpolation inside the bucket holding the rank, the lower bound of the first bucket is 0 (or its
upper bound when that is <= 0); a rank in the ``+Inf`` bucket returns the highest finite bound;
``q < 0`` -> -Inf, ``q > 1`` -> +Inf, no observations -> NaN.

:class:`LogSketch` is DDSketch-style: values fall in buckets ``(gamma^(i-1), gamma^i]`` with
``gamma = (1 + a) / (1 - a)``; the estimate ``2 gamma^i / (gamma + 1)`` is within relative error
``a`` (default 1 %) of the order statistic at rank ``floor(q * (n - 1))``. Sketches merge by adding
bucket counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["histogram_quantile", "histogram_quantiles", "LogSketch", "sketch_index", "sketch_value"]


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float:
    """Prometheus ``histogram_quantile(q, ...)`` of one histogram given as ``(le, cumulative_count)``."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    merged: dict[float, float] = {}
    for le, c in buckets:
        le = float(le)
        merged[le] = merged.get(le, 0.0) + float(c)
    bs = sorted(merged.items())
    if len(bs) < 2 or not math.isinf(bs[-1][0]):
        return math.nan
    # ensure monotonic cumulative counts (Prometheus "fixes" decreasing buckets)
    fixed, top = [], -math.inf
    for le, c in bs:
        top = max(top, c)
        fixed.append((le, top))
    bs = fixed
    observations = bs[-1][1]
    if observations == 0 or math.isnan(observations):
        return math.nan
    rank = q * observations
    b = next(i for i, (_, c) in enumerate(bs) if c >= rank)
    if b == len(bs) - 1:
        return bs[-2][0]
    if b == 0 and bs[0][0] <= 0:
        return bs[0][0]
    start, prev = (0.0, 0.0) if b == 0 else bs[b - 1]
    end, count = bs[b][0], bs[b][1] - prev
    rank -= prev
    if count == 0:
        return end
    return start + (end - start) * (rank / count)


def histogram_quantiles(q: float, les: Sequence[float], counts: Any) -> Any:
    """Vectorised :func:`histogram_quantile`: ``counts`` is ``[n, len(les)]`` (cumulative, by ``le``).

    ``les`` must be sorted and end with ``+Inf``. Returns an array of ``n`` quantiles.
    """
    import numpy as np

    les = np.asarray(les, dtype=float)
    c = np.maximum.accumulate(np.nan_to_num(np.asarray(counts, dtype=float), nan=0.0), axis=1)
    n = c.shape[0]
    if q < 0:
        return np.full(n, -np.inf)
    if q > 1:
        return np.full(n, np.inf)
    if len(les) < 2 or not np.isinf(les[-1]):
        return np.full(n, np.nan)
    obs = c[:, -1]
    rank = q * obs
    b = np.argmax(c >= rank[:, None], axis=1)
    prev = np.where(b > 0, c[np.arange(n), np.maximum(b - 1, 0)], 0.0)
    start = np.where(b > 0, les[np.maximum(b - 1, 0)], 0.0)
    end = les[b]
    count = c[np.arange(n), b] - prev
    with np.errstate(invalid="ignore", divide="ignore"):
        val = start + (end - start) * ((rank - prev) / count)
    val = np.where(count == 0, end, val)
    val = np.where(b == len(les) - 1, les[-2], val)
    val = np.where((b == 0) & (les[0] <= 0), les[0], val)
    val = np.where(obs > 0, val, np.nan)
    return val


def _gamma(rel: float) -> float:
    return (1 + rel) / (1 - rel)


def sketch_index(values: Any, rel: float = 0.01) -> Any:
    """Bucket index ``ceil(log_gamma(x))`` of positive values (numpy array)."""
    import numpy as np

    x = np.maximum(np.asarray(values, dtype=float), 1e-9)
    return np.ceil(np.log(x) / math.log(_gamma(rel))).astype("int64")


def sketch_value(index: Any, rel: float = 0.01) -> Any:
    """Representative value of bucket ``index``: ``2 gamma^i / (gamma + 1)``."""
    import numpy as np

    g = _gamma(rel)
    return 2.0 * np.power(g, np.asarray(index, dtype=float)) / (g + 1.0)


@dataclass
class LogSketch:
    """A mergeable quantile sketch with bounded relative error (DDSketch-style, positive values)."""

    rel: float = 0.01
    counts: dict[int, int] = field(default_factory=dict)
    zeros: int = 0

    @property
    def n(self) -> int:
        return self.zeros + sum(self.counts.values())

    def add(self, values: Iterable[float] | Any) -> LogSketch:
        """Add values (non-positive values count as zeros). Returns self."""
        import numpy as np

        x = np.asarray(values, dtype=float).ravel()
        x = x[~np.isnan(x)]
        pos = x[x > 0]
        self.zeros += int((x <= 0).sum())
        idx, cnt = np.unique(sketch_index(pos, self.rel), return_counts=True)
        for i, c in zip(idx.tolist(), cnt.tolist(), strict=False):
            self.counts[i] = self.counts.get(i, 0) + c
        return self

    def merge(self, other: LogSketch) -> LogSketch:
        """Add ``other``'s counts into this sketch (same ``rel`` required). Returns self."""
        if other.rel != self.rel:
            raise ValueError(f"cannot merge sketches with rel {self.rel} and {other.rel}")
        for i, c in other.counts.items():
            self.counts[i] = self.counts.get(i, 0) + c
        self.zeros += other.zeros
        return self

    def quantile(self, q: float) -> float:
        """Estimate of the order statistic at rank ``floor(q * (n - 1))``; NaN when empty."""
        n = self.n
        if n == 0:
            return math.nan
        rank = math.floor(q * (n - 1))
        if rank < self.zeros:
            return 0.0
        seen = self.zeros
        for i in sorted(self.counts):
            seen += self.counts[i]
            if seen > rank:
                return float(sketch_value(i, self.rel))
        return float(sketch_value(max(self.counts), self.rel))
