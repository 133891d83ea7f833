"""``prefetch_row``: compiles for the arrays and index types the kernels use and changes no result."""

import numba
import numpy as np
import pytest
from numba import njit

from uvatar.render._numba_intrinsics import prefetch_row


@njit
def _sum_rows_prefetching(table, order):
    total = 0.0
    for i in range(order.shape[0]):
        if i + 2 < order.shape[0]:
            prefetch_row(table, order[i + 2])
        for j in range(table.shape[1]):
            total += table[order[i], j]
    return total


@njit
def _sum_prefetching_1d(values, order):
    total = 0.0
    for i in range(order.shape[0]):
        prefetch_row(values, order[i])
        total += values[order[i]]
    return total


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_prefetch_changes_no_result(index_dtype):
    rng = np.random.default_rng(0)
    table = rng.random((500, 16), dtype=np.float32)
    order = rng.permutation(500).astype(index_dtype)
    expected = 0.0
    for i in order:  # the same order of additions, in Python
        for j in range(16):
            expected += float(table[i, j])
    assert _sum_rows_prefetching(table, order) == expected
    values = rng.random(300)
    order1 = rng.permutation(300).astype(index_dtype)
    assert _sum_prefetching_1d(values, order1) == sum(float(values[i]) for i in order1)


def test_prefetch_refuses_what_is_not_an_array():
    @njit
    def bad(x):
        prefetch_row(x, 0)

    with pytest.raises(numba.core.errors.TypingError):
        bad(1.0)
