"""SGD: one frozen, validated object for the optimizer settings, and the update every training
loop runs (``v <- m*v - lr*g; p <- p + v``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mlp_parity.train import SGD


def test_sgd_stores_plain_floats_and_defaults_to_no_momentum():
    sgd = SGD(np.float32(0.5), 0)
    assert sgd == SGD(0.5, 0.0) and sgd.momentum == 0.0
    assert type(sgd.learning_rate) is float and type(sgd.momentum) is float
    assert SGD(0.1).momentum == 0.0
    assert SGD(learning_rate=0.1, momentum=0.9) == SGD(0.1, 0.9)


def test_sgd_is_frozen_and_hashable():
    sgd = SGD(0.1, 0.9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sgd.learning_rate = 1.0  # type: ignore[misc]
    assert hash(sgd) == hash(SGD(0.1, 0.9)) and len({sgd, SGD(0.1, 0.9), SGD(0.1)}) == 2


@pytest.mark.parametrize(
    "args,err,match",
    [
        ((0.0,), ValueError, "learning_rate must be > 0"),
        ((-1.0,), ValueError, "learning_rate must be > 0"),
        ((float("inf"),), ValueError, "learning_rate must be finite"),
        (("0.1",), TypeError, "learning_rate must be a number"),
        ((True,), TypeError, "learning_rate must be a number"),
        ((0.1, 1.0), ValueError, r"momentum must lie in \[0, 1\)"),
        ((0.1, -0.1), ValueError, r"momentum must lie in \[0, 1\)"),
        ((0.1, float("nan")), ValueError, "momentum must be finite"),
        ((0.1, None), TypeError, "momentum must be a number"),
    ],
)
def test_sgd_names_the_bad_argument(args, err, match):
    with pytest.raises(err, match=match):
        SGD(*args)


def test_sgd_update_is_classical_momentum():
    sgd = SGD(0.1, 0.9)
    p, v, g = np.array([1.0, 2.0]), np.array([0.5, -0.5]), np.array([2.0, 4.0])
    p1, v1 = sgd.update(p, v, g)
    np.testing.assert_array_equal(v1, 0.9 * v - 0.1 * g)
    np.testing.assert_array_equal(p1, p + v1)
    assert p[0] == 1.0  # inputs untouched
    p2, v2 = SGD(0.1).update(p, np.zeros(2), g)  # no momentum: plain SGD
    np.testing.assert_array_equal(p2, p - 0.1 * g)
