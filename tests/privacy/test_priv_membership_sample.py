"""The balanced sample of members and non-members: distinct records, equal sizes, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from audit.data import TextDataset
from audit.privacy.membership import balanced_sample


def _records(n: int, prefix: str) -> TextDataset:
    return TextDataset(texts=[f"{prefix} record {i}" for i in range(n)], labels=[i % 2 for i in range(n)],
                       label_names=["neg", "pos"])


def test_each_record_is_drawn_at_most_once_on_both_sides():
    # Equal sides and no cap: the sample must be every record of each side exactly once; a draw
    # with replacement would count some records twice and drop others.
    for seed in range(5):
        mi, oi = balanced_sample(_records(40, "m"), _records(40, "o"), None, seed)
        assert np.array_equal(mi, np.arange(40)) and np.array_equal(oi, np.arange(40))


def test_the_larger_side_and_the_cap_are_sampled_down_without_repeats():
    mi, oi = balanced_sample(_records(30, "m"), _records(200, "o"), None, 0)
    assert mi.size == oi.size == 30 and len(set(oi.tolist())) == 30 and oi.max() < 200
    mi, oi = balanced_sample(_records(300, "m"), _records(200, "o"), 50, 0)
    assert mi.size == oi.size == 50 and len(set(mi.tolist())) == 50 and len(set(oi.tolist())) == 50
    again = balanced_sample(_records(300, "m"), _records(200, "o"), 50, 0)
    other = balanced_sample(_records(300, "m"), _records(200, "o"), 50, 1)
    assert np.array_equal(mi, again[0]) and np.array_equal(oi, again[1])
    assert not np.array_equal(mi, other[0])
    with pytest.raises(ValueError, match="at least 2 members"):
        balanced_sample(_records(1, "m"), _records(10, "o"), None, 0)
