import numpy as np
import pytest

from mlp_parity import MLPSpec, init_params, load_params, save_params
from mlp_parity.params import check_batch, check_params


def test_init_params_layout_dtype_and_determinism():
    spec = MLPSpec((784, 128, 128, 10))
    p = init_params(spec, seed=3)
    assert [(W.shape, b.shape) for W, b in p] == spec.shapes()
    assert all(W.dtype == np.float64 for W, _ in p)
    q = init_params(spec, seed=3)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(p, q))
    assert not np.array_equal(init_params(spec, seed=4)[0][0], p[0][0])
    assert init_params(spec, dtype="float32")[0][0].dtype == np.float32
    assert all(not b.any() for _, b in p)


def test_init_scheme_glorot_vs_he():
    sig = init_params(MLPSpec((400, 100, 10), "sigmoid"), seed=0)[0][0]
    relu = init_params(MLPSpec((400, 100, 10), "relu"), seed=0)[0][0]
    assert np.abs(sig).max() <= np.sqrt(6 / 500) and np.abs(sig).max() > 0.9 * np.sqrt(6 / 500)
    assert np.abs(relu).max() <= np.sqrt(6 / 400) and np.abs(relu).max() > 0.9 * np.sqrt(6 / 400)


def test_init_rejects_bad_dtype():
    with pytest.raises(ValueError, match="dtype"):
        init_params(MLPSpec((2, 2)), dtype="int32")


@pytest.mark.parametrize(
    "mutate, err, words",
    [
        (lambda p: p[:1], ValueError, "needs 2"),
        (lambda p: [(p[0][0].T, p[0][1]), p[1]], ValueError, r"W0 has shape \(3, 4\)"),
        (lambda p: [p[0], (p[1][0], p[1][1][:1])], ValueError, "b1 has shape"),
        (lambda p: [p[0], (p[1][0].astype(np.float32), p[1][1])], TypeError, "mixes dtypes"),
        (lambda p: [(p[0][0].astype(int), p[0][1]), p[1]], TypeError, "float32 or float64"),
        (lambda p: [(np.full_like(p[0][0], np.nan), p[0][1]), p[1]], ValueError, "NaN"),
        (lambda p: "W0", TypeError, "list"),
        (lambda p: [p[0][0], p[1]], TypeError, "pair"),
    ],
)
def test_check_params_names_the_problem(mutate, err, words):
    spec = MLPSpec((4, 3, 2))
    with pytest.raises(err, match=words):
        check_params(spec, mutate(init_params(spec)))


@pytest.mark.parametrize(
    "x, y, err, words",
    [
        (np.zeros((2, 5)), np.zeros((2, 2)), ValueError, r"x must have shape \(batch, 4\)"),
        (np.zeros(4), np.zeros((1, 2)), ValueError, "x must have shape"),
        (np.zeros((0, 4)), np.zeros((0, 2)), ValueError, "batch >= 1"),
        (np.full((2, 4), np.inf), np.zeros((2, 2)), ValueError, "x contains NaN or inf"),
        (np.zeros((2, 4)), np.zeros((3, 2)), ValueError, "y must have shape"),
        (np.zeros((2, 4)), np.array([0, 2]), ValueError, r"labels y must lie in \[0, 2\)"),
        (np.zeros((2, 4)), np.array([0, 1, 1]), ValueError, "3 labels but x has 2"),
        (np.zeros((2, 4)), np.full((2, 2), np.nan), ValueError, "y contains NaN"),
        (np.array([["a"] * 4]), np.zeros((1, 2)), TypeError, "numeric"),
    ],
)
def test_check_batch_names_the_problem(x, y, err, words):
    with pytest.raises(err, match=words):
        check_batch(MLPSpec((4, 3, 2)), x, y, np.dtype("float64"))


def test_integer_labels_become_one_hot():
    _, y = check_batch(MLPSpec((4, 3)), np.zeros((3, 4)), np.array([2, 0, 1]), np.dtype("f8"))
    assert y.tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]


def test_sigmoid_ce_targets_must_be_probabilities():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_batch(
            MLPSpec((2, 2), loss="sigmoid_cross_entropy"),
            np.zeros((1, 2)),
            np.array([[2.0, 0.0]]),
            np.dtype("f8"),
        )


def test_save_load_round_trip(tmp_path):
    spec = MLPSpec((5, 4, 3), ("tanh",), "mse")
    p = init_params(spec, seed=1, dtype="float32")
    path = save_params(tmp_path / "m.npz", spec, p)
    spec2, p2 = load_params(path)
    assert spec2 == spec
    assert all(
        np.array_equal(a, b) and a.dtype == b.dtype for x, y in zip(p, p2) for a, b in zip(x, y)
    )
    with np.load(path) as z:
        assert set(z.files) == {"W0", "b0", "W1", "b1", "sizes", "activation", "loss"}
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_params(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        load_params(bad)
    partial = tmp_path / "partial.npz"
    np.savez(partial, W0=np.zeros((2, 2)), sizes=np.array([2, 2]), activation="relu", loss="mse")
    with pytest.raises(ValueError, match="b0 is missing"):
        load_params(partial)


def test_save_to_unwritable_place_leaves_nothing(tmp_path):
    spec = MLPSpec((2, 2))
    with pytest.raises(ValueError, match="does not exist"):
        save_params(tmp_path / "nope" / "m.npz", spec, init_params(spec))
    assert list(tmp_path.iterdir()) == []


def test_saved_file_has_ordinary_permissions(tmp_path):
    import os

    spec = MLPSpec((2, 2))
    path = save_params(tmp_path / "m.npz", spec, init_params(spec))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_softmax_ce_targets_must_not_be_negative():
    # A negative target makes cross entropy negative: the loss's target_range says [0, inf).
    spec = MLPSpec((2, 2))
    with pytest.raises(ValueError, match="y must be >= 0 for softmax_cross_entropy"):
        check_batch(spec, np.zeros((1, 2)), np.array([[-0.5, 1.5]]), np.dtype("f8"))
    _, y = check_batch(spec, np.zeros((1, 2)), np.array([[0.0, 2.0]]), np.dtype("f8"))
    assert y.tolist() == [[0.0, 2.0]]  # no upper bound: unnormalised soft targets are fine


def test_target_range_messages_come_from_the_loss_table():
    x = np.zeros((1, 2))
    sig = MLPSpec((2, 2), loss="sigmoid_cross_entropy")
    for bad in ([[-0.1, 0.0]], [[0.0, 1.1]]):
        with pytest.raises(ValueError, match=r"^y must lie in \[0, 1\] for sigmoid_cross_entropy$"):
            check_batch(sig, x, np.array(bad), np.dtype("f8"))
    _, y = check_batch(MLPSpec((2, 2), loss="mse"), x, np.array([[-7.0, 9.0]]), np.dtype("f8"))
    assert y.tolist() == [[-7.0, 9.0]]  # mse takes any real target


def test_init_scheme_follows_the_activation_table(monkeypatch):
    # Which layers get He and which Glorot is the activation's `init` fact, not its name.
    from dataclasses import replace

    from mlp_parity import spec as spec_module

    assert spec_module.ACTIVATIONS["relu"].init == "he"
    assert spec_module.ACTIVATIONS["tanh"].init == "glorot"
    monkeypatch.setitem(
        spec_module.ACTIVATIONS, "tanh", replace(spec_module.ACTIVATIONS["tanh"], init="he")
    )
    (W0, _), (W1, _) = init_params(MLPSpec((400, 100, 10), "tanh"), seed=0)
    assert 0.9 * np.sqrt(6 / 400) < np.abs(W0).max() <= np.sqrt(6 / 400)  # now He
    # the output layer feeds the loss, no activation: always Glorot
    assert 0.9 * np.sqrt(6 / 110) < np.abs(W1).max() <= np.sqrt(6 / 110)


def test_mixed_activations_get_one_scheme_per_layer():
    spec = MLPSpec((300, 200, 100, 10), ("relu", "sigmoid"))
    limits = [np.sqrt(6 / 300), np.sqrt(6 / 300), np.sqrt(6 / 110)]  # He, Glorot, Glorot
    for (W, _), limit in zip(init_params(spec, seed=1), limits):
        assert 0.9 * limit < np.abs(W).max() <= limit


def test_save_appends_npz_and_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    spec = MLPSpec((2, 2))
    assert save_params(tmp_path / "m", spec, init_params(spec)) == tmp_path / "m.npz"
    assert save_params(tmp_path / "m.v1", spec, init_params(spec)) == tmp_path / "m.v1.npz"

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(ValueError, match="cannot save to .*m2.npz: No space left"):
        save_params(tmp_path / "m2.npz", spec, init_params(spec))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "m.v1.npz"]


# ----------------------------------------------------------------------------------------------
# Issue 15: sizes that cannot fit, and files that are not parameter files.


def test_init_params_refuses_sizes_that_cannot_fit(monkeypatch):
    from mlp_parity import params as P

    monkeypatch.setattr(P, "available_memory", lambda: int(20.1 * 2**30))
    with pytest.raises(ValueError) as info:
        init_params(MLPSpec((100000, 100000)))
    assert str(info.value) == (
        "sizes 100000,100000 need 74.5 GiB of parameters in float64; this machine has "
        "20.1 GiB available; use smaller sizes"
    )
    with pytest.raises(ValueError, match="need 37.3 GiB of parameters in float32"):
        init_params(MLPSpec((100000, 100000)), dtype="float32")
    monkeypatch.setattr(P, "available_memory", lambda: None)  # unknown: nothing refused
    assert P.check_fits(MLPSpec((100000, 100000))) == 8 * (10**10 + 10**5)


def test_check_fits_adds_the_extra_bytes(monkeypatch):
    from mlp_parity import params as P

    spec = MLPSpec((10, 10))
    monkeypatch.setattr(P, "available_memory", lambda: 1000)
    assert P.params_bytes(spec, "float32") == 440
    assert P.check_fits(spec, "float32", extra_bytes=560) == 1000
    with pytest.raises(ValueError, match="need 1.0 MiB of training in float32"):
        P.check_fits(spec, "float32", extra_bytes=2**20 - 440, what="training")
    assert P.training_bytes(spec, "float32", 1) > 4 * 440


def test_available_memory_is_read():
    from mlp_parity.params import available_memory

    free = available_memory()
    assert free is None or free > 2**20


def test_float32_init_allocates_no_float64_copy():
    import tracemalloc

    spec = MLPSpec((4000, 4000))
    tracemalloc.start()
    try:
        p = init_params(spec, dtype="float32")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert p[0][0].dtype == np.float32
    assert peak < 1.3 * p[0][0].nbytes  # a float64 copy would be 2x the float32 array


def test_float32_init_is_the_float64_init_rounded():
    spec = MLPSpec((300, 5000, 10))
    p64, p32 = init_params(spec, seed=5), init_params(spec, seed=5, dtype="float32")
    assert all(np.array_equal(a[0].astype(np.float32), b[0]) for a, b in zip(p64, p32))


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: p.write_bytes(np.random.default_rng(0).bytes(200)), "(not a zip archive"),
        (lambda p: p.write_bytes(b""), "(not a zip archive"),
        (lambda p: np.save(open(p, "wb"), np.zeros(3)), "(it holds a single .npy array"),
        (lambda p: np.savez(p, a=np.zeros(2)), "(it has no sizes, activation, loss"),
        (
            lambda p: np.savez(
                p, sizes=np.array([2, 2]), activation=np.array([None]), loss="mse", W0=0, b0=0
            ),
            "(it holds pickled Python objects, never loaded;",
        ),
    ],
)
def test_load_of_other_files_says_it_is_not_a_params_file(tmp_path, make, words):
    path = tmp_path / "x.npz"
    make(path)
    with pytest.raises(ValueError) as info:
        load_params(path)
    message = str(info.value)
    assert message.startswith(
        f"cannot load {path}: it is not a parameter file saved by save_params"
    )
    assert words in message and "allow_pickle" not in message


def test_load_finds_the_file_save_named(tmp_path):
    spec = MLPSpec((3, 2))
    written = save_params(tmp_path / "mymodel", spec, init_params(spec))
    assert written == tmp_path / "mymodel.npz"
    assert load_params(tmp_path / "mymodel")[0] == spec
    with pytest.raises(ValueError, match=r"no such file \(nor .*other\.npz\)"):
        load_params(tmp_path / "other")
    (tmp_path / "adir").mkdir()
    with pytest.raises(ValueError, match="adir: it is a folder, not a parameter file"):
        load_params(tmp_path / "adir")


def test_load_refuses_sizes_that_cannot_fit_before_reading_tensors(tmp_path, monkeypatch):
    from mlp_parity import params as P

    spec = MLPSpec((300, 300))
    path = save_params(tmp_path / "m.npz", spec, init_params(spec, dtype="float32"))
    monkeypatch.setattr(P, "available_memory", lambda: 1000)
    with pytest.raises(ValueError, match=r"cannot load .*m\.npz: sizes 300,300 need .* float32"):
        load_params(path)


def test_save_under_a_file_says_it_is_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    spec = MLPSpec((2, 2))
    with pytest.raises(ValueError, match="afile is a file, not a folder"):
        save_params(tmp_path / "afile" / "m.npz", spec, init_params(spec))


def test_as_pairs_and_from_pairs_convert_the_user_layout():
    from mlp_parity.params import as_pairs, cast_params, flatten, from_pairs, params_dtype

    spec = MLPSpec((3, 4, 2), "relu", "mse")
    params = init_params(spec)
    pairs = as_pairs(spec, params)
    assert from_pairs(spec, pairs) == pairs and check_params(spec, params) == pairs
    bare = spec.replace(use_bias=False)
    weights = from_pairs(bare, pairs)
    assert [W.shape for W in weights] == [(3, 4), (4, 2)]
    assert check_params(bare, weights) == weights
    assert list(flatten(weights)) == ["W0", "W1"]
    assert list(flatten(pairs)) == ["W0", "b0", "W1", "b1"]
    assert params_dtype(weights) == np.float64
    assert [W.dtype for W in cast_params(weights, "float32")] == [np.float32] * 2
    assert all(b.dtype == np.float32 for _, b in cast_params(pairs, "float32"))


def test_no_bias_params_are_checked_tensor_by_tensor():
    spec = MLPSpec((3, 2), use_bias=False)
    with pytest.raises(TypeError, match=r"\[W0, W1, \.\.\.\] \(use_bias=False\)"):
        check_params(spec, np.ones((3, 2)))
    with pytest.raises(TypeError, match="W0 must be float32 or float64"):
        check_params(spec, [np.ones((3, 2), int)])
    with pytest.raises(ValueError, match="W0 contains NaN"):
        check_params(spec, [np.full((3, 2), np.nan)])
