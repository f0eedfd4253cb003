"""Fuzzing the public API (issue 15): Hypothesis throws random, mostly bad, inputs at it —
wrong shapes, dtypes (ints, bools, complex, objects, strings), NaN/inf, params nested wrongly,
bad spec arguments, None — on tiny networks. The only allowed outcomes are success, or a
``ValueError``/``TypeError`` whose message names one of the function's arguments; any other
exception fails the test (Hypothesis then shows the smallest input that raised it)."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mlp_parity as mp
from mlp_parity.train import train

#: FUZZ_EXAMPLES=2000 for a longer hunt; 100 keeps the suite fast.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
ACTS = sorted(mp.ACTIVATIONS)
LOSSES = sorted(mp.LOSSES)


def allowed(call, *names: str):
    """Run ``call()``; a ValueError/TypeError must name one of ``names`` (as a word); any
    other exception propagates and fails the test. Returns the result, or None on an error."""
    try:
        return call()
    except (ValueError, TypeError) as e:
        msg = str(e)
        assert msg and "\n" not in msg.strip(), f"{type(e).__name__} not one line: {msg!r}"
        assert any(re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", msg) for n in names), (
            f"{type(e).__name__}: {msg!r} names none of {names}"
        )
        return None


# --------------------------------------------------------------------------------------------
# Strategies: junk of every kind, and near-misses of good values


def scalars():
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 5),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=3),
        st.complex_numbers(max_magnitude=5),
        st.integers(-3, 5).map(np.int64),
    )


def _cast(a: np.ndarray, kind: str) -> np.ndarray:
    if kind in ("int64", "int8", "uint8"):
        return np.nan_to_num(a, nan=0, posinf=1, neginf=-1).clip(-100, 100).astype(kind)
    return a.astype({"str": "U4", "bool": bool}.get(kind, kind))


def arrays(shape=None):
    """Arrays of any dtype (floats with NaN/inf among them), of ``shape`` or any small one."""
    shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
    if shape is not None:
        shapes = st.one_of(st.just(shape), shapes)
    kinds = st.sampled_from(
        ["float64", "float64", "float32", "int64", "int8", "uint8", "bool", "complex128"]
        + ["object", "str"]
    )
    floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
    return st.tuples(shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=floats)), kinds)\
        .map(lambda t: _cast(*t))  # fmt: skip


def junk(shape=None):
    """Anything a caller might pass instead of an array."""
    return st.one_of(
        arrays(shape),
        scalars(),
        st.lists(st.floats(allow_nan=True), max_size=4),
        st.lists(st.lists(st.floats(-2, 2), max_size=3), max_size=3),  # ragged too
        st.just({"a": 1}),
    )


@st.composite
def specs(draw):
    sizes = draw(st.lists(st.integers(1, 3), min_size=2, max_size=4))
    loss = draw(st.sampled_from(LOSSES))
    output = draw(st.sampled_from(mp.LOSSES[loss].output_activations))
    return mp.MLPSpec(tuple(sizes), draw(st.sampled_from(ACTS)), loss, output_activation=output)


@st.composite
def fuzzed_params(draw, spec):
    """The spec's params, mutated one way or another (or not at all)."""
    params = [
        list(p)
        for p in mp.init_params(spec, seed=0, dtype=draw(st.sampled_from(["float32", "float64"])))
    ]
    how = draw(
        st.sampled_from(
            ["none", "drop", "extra", "transpose", "tensor", "nan", "triple", "container",
             "float32_one", "as_list"]
        )
    )  # fmt: skip
    i, k = draw(st.integers(0, len(params) - 1)), draw(st.integers(0, 1))
    if how == "drop":
        params.pop(i)
    elif how == "extra":
        params.append(list(params[-1]))
    elif how == "transpose":
        params[i][k] = params[i][k].T if params[i][k].ndim == 2 else params[i][k][None]
    elif how == "tensor":
        params[i][k] = draw(junk(params[i][k].shape))
    elif how == "nan":
        params[i][k] = params[i][k].copy()
        params[i][k].flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif how == "triple":
        params[i].append(params[i][0])
    elif how == "float32_one":
        params[i][k] = params[i][k].astype(
            np.float32 if params[i][k].dtype == np.float64 else np.float64
        )
    elif how == "container":
        return draw(st.sampled_from([None, "params", 3, {"W0": 1}, np.zeros(3), (p for p in [])]))
    layers = [tuple(p) if how != "as_list" else list(p) for p in params]
    return layers if draw(st.booleans()) else tuple(layers)


@st.composite
def problems(draw, targets=True):
    """``(spec, params, x, y)``: a tiny spec, fuzzed params and data (each maybe good)."""
    spec = draw(specs())
    params = draw(fuzzed_params(spec))
    n = draw(st.integers(1, 4))
    good_x = np.random.default_rng(0).normal(size=(n, spec.sizes[0]))
    x = draw(st.one_of(st.just(good_x), junk((n, spec.sizes[0]))))
    labels = np.zeros(n, np.int64)
    good_y = st.sampled_from(
        [labels, np.eye(spec.sizes[-1])[labels], np.full((n, spec.sizes[-1]), 0.5)]
    )
    y = draw(st.one_of(good_y, junk((n, spec.sizes[-1])), st.just(labels + spec.sizes[-1])))
    return spec, params, x, y


DATA = ("spec", "sizes", "params", "x", "y", "W0", "b0", "W1", "b1", "W2", "b2")


# --------------------------------------------------------------------------------------------
# The API


SIZES = st.one_of(
    junk(), st.lists(scalars(), max_size=4), st.tuples(st.integers(-1, 3), st.integers(-1, 3))
)
ACTIVATION = st.one_of(
    st.sampled_from(ACTS), scalars(), st.lists(st.sampled_from([*ACTS, "x"]), max_size=3)
)
DTYPE = st.one_of(
    st.sampled_from(["float32", "float64", np.float32, "int32", "complex128", "foo", "f2"]),
    scalars(),
)


@FUZZ
@given(sizes=SIZES, activation=ACTIVATION, loss=st.one_of(st.sampled_from(LOSSES), scalars()))
def test_mlpspec(sizes, activation, loss):
    allowed(lambda: mp.MLPSpec(sizes, activation, loss), "sizes", "activation", "loss")


@FUZZ
@given(spec=st.one_of(specs(), specs(), specs(), junk()), seed=scalars(), dtype=DTYPE)
@example(spec=mp.MLPSpec((2, 2)), seed=0.5, dtype="float64")  # found by the fuzzer
@example(spec=mp.MLPSpec((2, 2)), seed=-1, dtype="float64")
def test_init_params(spec, seed, dtype):
    params = allowed(
        lambda: mp.init_params(spec, seed=seed, dtype=dtype), "spec", "sizes", "seed", "dtype"
    )
    if params is not None:
        assert all(np.isfinite(W).all() for W, _ in params)


RAGGED = (mp.MLPSpec((2, 2), "tanh", "mse"), mp.init_params((2, 2)), [[1.0, 2.0], [3.0]], [0])
SPEC22 = mp.MLPSpec((2, 2), "identity", "mse")
TRANSPOSED = (SPEC22, [(W.T, b) for W, b in mp.init_params(SPEC22)], np.ones((1, 2)), [0])


@FUZZ
@given(problems())
@example(RAGGED)  # found by the fuzzer
def test_loss_and_grad(problem):
    spec, params, x, y = problem
    out = allowed(lambda: mp.loss_and_grad(spec, params, x, y, backend="numpy"), *DATA)
    if out is not None:
        assert np.isfinite(out[0])


@FUZZ
@given(problems(), st.sampled_from(["forward", "predict"]))
def test_forward_and_predict(problem, fn):
    spec, params, x, _ = problem
    out = allowed(lambda: getattr(mp, fn)(spec, params, x, backend="numpy"), *DATA)
    if out is not None:
        assert out.shape == (np.asarray(x).shape[0], spec.sizes[-1])


@FUZZ
@given(problems())
@example(TRANSPOSED)  # found by the fuzzer: a transposed W got finite differences of 0
def test_check_gradients_against_finite_differences(problem):
    spec, params, x, y = problem
    call = lambda: mp.check_gradients(  # noqa: E731
        spec, params, x, y, backends=["numpy"], reference="finite_difference"
    )
    report = allowed(call, *DATA)
    if report is not None and "relu" not in spec.hidden_activations:  # FD across relu's kink
        assert report.ok, str(report)


@FUZZ
@given(
    problem=problems(),
    epochs=st.one_of(st.integers(0, 2), scalars()),
    batch_size=st.one_of(st.integers(1, 3), scalars()),
    learning_rate=st.one_of(st.floats(0.001, 0.5), scalars()),
    momentum=st.one_of(st.floats(0, 0.9), scalars()),
    seed=st.one_of(st.integers(0, 3), scalars()),
    shuffle=st.one_of(st.booleans(), scalars()),
    validation=st.one_of(st.none(), st.tuples(junk(), junk()), junk()),
)
def test_train_numpy(
    problem, epochs, batch_size, learning_rate, momentum, seed, shuffle, validation
):
    spec, params, x, y = problem
    names = DATA + (
        "epochs",
        "batch_size",
        "learning_rate",
        "momentum",
        "seed",
        "shuffle",
        "validation",
    )

    def call():
        return train(
            spec, params, x, y, backend="numpy", epochs=epochs, batch_size=batch_size,
            learning_rate=learning_rate, momentum=momentum, seed=seed, shuffle=shuffle,
            validation=validation,
        )  # fmt: skip

    result = allowed(call, *names)
    if result is not None:
        assert all(np.isfinite(W).all() for W, _ in result.params)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_params")


@FUZZ
@given(problem=problems(), name=st.sampled_from(["m.npz", "m", "sub/m.npz"]))
def test_save_and_load_params(folder, problem, name):
    spec, params, _, _ = problem
    path = folder / name
    saved = allowed(lambda: mp.save_params(path, spec, params), "path", str(path), *DATA)
    if saved is not None:
        spec2, params2 = mp.load_params(saved)
        assert spec2 == spec and len(params2) == len(spec.shapes())


@FUZZ
@given(content=st.one_of(st.binary(max_size=64), st.builds(lambda a: a, junk())))
def test_load_params_of_junk(folder, content):
    path = folder / "junk.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        arr = np.asarray(content, dtype=object) if not isinstance(content, np.ndarray) else content
        with open(path, "wb") as f:
            np.savez(f, W0=arr, sizes=arr)
    allowed(lambda: mp.load_params(path), "path", str(path), path.name)
