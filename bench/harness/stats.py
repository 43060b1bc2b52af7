"""Summaries of repeated measurements."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Median, minimum and maximum of the values of one metric over the repeats."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        if not values:
            raise ValueError("Cannot summarise an empty list of values.")
        return cls(statistics.median(values), min(values), max(values), len(values))


def percentile(values: list[float], percent: float) -> float:
    """Return the ``percent`` percentile of ``values`` by linear interpolation (numpy's default)."""
    if not values:
        raise ValueError("Cannot take a percentile of an empty list of values.")
    ordered = sorted(values)
    position = (len(ordered) - 1) * percent / 100
    lower = math.floor(position)
    upper = math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)
