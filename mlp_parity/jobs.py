"""The training commands behind ``mlp-parity train``, ``compare`` and ``tutorial``: argument
definitions, the jobs themselves, their tables, progress bars and atomically written files.

``mlp_parity.cli`` registers the subcommands with :func:`register`; everything heavy (datasets,
frameworks, matplotlib) is imported when a command runs. Every file a command writes is written
to a temporary file in the target folder and renamed into place, and every target is checked
for writability before training starts, so a failure never leaves a partial output behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from .train import TRAIN_BACKENDS, Progress, TrainResult

# Defaults of `train` and `compare`: 95.7 % validation accuracy on mnist-sample in 10 epochs.
DEFAULT_SIZES = "784,128,10"
DEFAULT_ACTIVATION = "relu"
DEFAULT_LOSS = "softmax_cross_entropy"
DEFAULT_LR = 0.1
DEFAULT_MOMENTUM = 0.9
DEFAULT_BATCH = 64
DEFAULT_EPOCHS = 10
DEFAULT_DTYPE = "float32"
COMPARE_DTYPE = "float64"  # compare's default: the trajectories then agree to ~1e-15
#: compare fails (exit 1) when a float64 backend's parameters differ from the reference by more.
PARITY_RTOL = 1e-8
DEFAULT_DATASET = "mnist-sample"
DEFAULT_OUT = "mlp-parity-out"
TUTORIAL_EPOCHS = 50


# ----------------------------------------------------------------------------------------------
# Small helpers: files, progress, formatting.


def npz_path(path: str | os.PathLike[str]) -> Path:
    """The path ``save_params`` writes for ``path`` (it appends ``.npz`` when missing)."""
    p = Path(path)
    if p.suffix == ".npz":
        return p
    return p.with_suffix(p.suffix + ".npz") if p.suffix else p.with_suffix(".npz")


def check_writable(path: str | os.PathLike[str], what: str) -> Path:
    """Fail now, before any training, if ``path`` cannot be written: its folder must exist and
    accept a new file (tried for real), and ``path`` must not be a folder."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"cannot write {what} {p}: it is a folder")
    folder = p.parent
    if not folder.is_dir():
        raise ValueError(f"cannot write {what} {p}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{p.name}.", suffix=".tmp")
    except OSError as e:
        raise ValueError(f"cannot write {what} {p}: {e.strerror or e}") from None
    os.close(fd)
    os.unlink(tmp)
    return p


@contextlib.contextmanager
def output_folder(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Create ``out`` (with parents) and check a file can be written there, before any work;
    if the job then fails, a folder this call created and left empty is removed again."""
    folder = Path(out)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create output folder {folder}: {e.strerror or e}") from None
    try:
        check_writable(folder / "probe", "into output folder")
        yield folder
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: Path, data: Any) -> Path:
    """Atomically write ``data`` as JSON (NaN/inf become ``null``)."""
    text = json.dumps(_json_safe(data), indent=2, allow_nan=False) + "\n"
    return write_atomic(path, lambda f: f.write(text.encode()))


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


class EpochProgress:
    """A ``train(progress=...)`` callback: a one-line bar per epoch on ``stream`` (stderr;
    drawn only on a terminal unless ``enabled``), redrawn at most 10 times a second and erased
    at the epoch's end, when ``on_epoch(epoch, epochs, record)`` is called (to print a line)."""

    def __init__(
        self,
        label: str,
        on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
        *,
        stream: IO[str] | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.label, self.on_epoch = label, on_epoch
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.last = 0.0
        self.width = 0

    def __call__(self, p: Progress) -> None:
        if p.record is not None:
            self._clear()
            if self.on_epoch is not None:
                self.on_epoch(p.epoch, p.epochs, p.record)
            return
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.1 and p.step != p.steps:
            return
        self.last = now
        frac = p.step / max(p.steps, 1)
        bar = "#" * int(25 * frac)
        text = f"{self.label} epoch {p.epoch}/{p.epochs} [{bar:<25}] {p.step}/{p.steps}"
        self.width = max(self.width, len(text))
        self.stream.write("\r" + text)
        self.stream.flush()

    def _clear(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def _pct(v: float) -> str:
    return f"{100 * v:6.2f}%" if math.isfinite(v) else "     -"


def epoch_line(epoch: int, epochs: int, record: dict[str, float]) -> str:
    """``epoch  3/10  loss 0.1234  acc  96.10%  val_loss 0.1500  val_acc  95.20%  1.2 s``."""
    w = len(str(epochs))
    text = f"epoch {epoch:>{w}}/{epochs}  loss {record['loss']:.4f}  acc {_pct(record['accuracy'])}"
    if "val_loss" in record:
        text += f"  val_loss {record['val_loss']:.4f}  val_acc {_pct(record['val_accuracy'])}"
    return text + f"  {record['time']:.2f} s"


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("numpy", "jax", "jaxlib", "tensorflow", "tensorflow-cpu", "keras", "matplotlib"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def _load_data(args: argparse.Namespace, dtype: str):
    from .data import load_dataset

    ds = load_dataset(args.dataset, data_dir=args.data, dtype=dtype)
    print(
        f"dataset {ds.name}: {ds.x_train.shape[0]} train / {ds.x_val.shape[0]} validation "
        f"({ds.source})"
    )
    return ds


def _spec_from_args(args: argparse.Namespace):
    from .spec import MLPSpec

    sizes = args.sizes if args.sizes is not None else tuple(map(int, DEFAULT_SIZES.split(",")))
    activation = args.activation if args.activation is not None else DEFAULT_ACTIVATION
    loss = args.loss if args.loss is not None else DEFAULT_LOSS
    return MLPSpec(sizes, activation, loss)


def param_divergence(params: Sequence, reference: Sequence) -> float:
    """Largest relative difference over tensors: ``max |p - r| / max |r|`` per tensor."""
    worst = 0.0
    for pair, ref_pair in zip(params, reference, strict=True):
        for p, r in zip(pair, ref_pair, strict=True):
            r64 = np.asarray(r, np.float64)
            scale = max(float(np.abs(r64).max()), np.finfo(np.float64).tiny)
            worst = max(worst, float(np.abs(np.asarray(p, np.float64) - r64).max()) / scale)
    return worst


# ----------------------------------------------------------------------------------------------
# mlp-parity train


def run_train(args: argparse.Namespace) -> int:
    """``mlp-parity train``: train (or, with ``--epochs 0``, evaluate) one backend's network."""
    from .params import cast_params, init_params, load_params, params_dtype, save_params
    from .train import check_settings, evaluate, train

    epochs, batch_size, lr, momentum, seed = check_settings(
        backend=args.backend,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        momentum=args.momentum,
        seed=args.seed,
    )
    save_to = check_writable(npz_path(args.save), "--save file") if args.save else None
    if args.load:
        spec, params = load_params(args.load)
        given = {"sizes": args.sizes, "activation": args.activation, "loss": args.loss}
        clash = [f"--{k}" for k, v in given.items() if v is not None and v != getattr(spec, k)]
        if clash:
            raise ValueError(
                f"{', '.join(clash)} differ from the network in {args.load} ({spec}); the spec "
                "comes from the --load file, leave them out"
            )
        if args.dtype is not None:
            params = cast_params(params, args.dtype)
        print(f"loaded {args.load}: {spec}, {params_dtype(params)}")
    else:
        spec = _spec_from_args(args)
        params = init_params(spec, seed=seed, dtype=args.dtype or DEFAULT_DTYPE)
    dtype = str(params_dtype(params))
    ds = _load_data(args, dtype)
    if spec.sizes[0] != ds.x_train.shape[1]:
        raise ValueError(
            f"the network takes {spec.sizes[0]} inputs but {ds.name} images have "
            f"{ds.x_train.shape[1]} pixels; use --sizes {ds.x_train.shape[1]},...,10"
        )

    if epochs == 0:
        loss, acc = evaluate(spec, params, ds.x_train, ds.y_train)
        vloss, vacc = evaluate(spec, params, ds.x_val, ds.y_val)
        print(f"evaluate {spec} ({dtype}), no training:")
        print(f"  train      loss {loss:.4f}  acc {_pct(acc)}")
        print(f"  validation loss {vloss:.4f}  acc {_pct(vacc)}")
        result_params = params
    else:
        print(
            f"train {spec} ({dtype}) on {args.backend}: {epochs} epochs, batch {batch_size}, "
            f"lr {lr:g}, momentum {momentum:g}, seed {seed}"
        )
        bar = EpochProgress(args.backend, lambda e, n, r: print(epoch_line(e, n, r), flush=True))
        result = train(
            spec,
            params,
            ds.x_train,
            ds.y_train,
            backend=args.backend,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=lr,
            momentum=momentum,
            seed=seed,
            validation=(ds.x_val, ds.y_val),
            progress=bar,
        )
        h = result.history
        print(
            f"final: train acc {_pct(h['accuracy'][-1]).strip()}, validation acc "
            f"{_pct(h['val_accuracy'][-1]).strip()}; {result.train_time:.1f} s training, "
            f"{result.samples_per_second:,.0f} samples/s"
        )
        result_params = result.params
    if save_to is not None:
        path = save_params(save_to, spec, result_params)
        print(f"saved {path}")
    return 0


# ----------------------------------------------------------------------------------------------
# mlp-parity compare


def compare_backends(
    spec: Any,
    params: Any,
    dataset: Any,
    *,
    backends: Sequence[str],
    epochs: int,
    batch_size: int,
    learning_rate: float,
    momentum: float,
    seed: int = 0,
    progress: Callable[[str], Callable[[Progress], None] | None] | None = None,
) -> dict[str, Any]:
    """Train ``params`` on ``dataset`` with each backend from the same start on the same
    batches. Returns ``{"results": {backend: TrainResult}, "wall": {backend: seconds},
    "divergence": {backend: max relative parameter difference from the reference},
    "reference": backend}``; the reference is numpy if it ran, else the first backend.
    ``progress(backend)`` may return a per-backend progress callback."""
    from .backends import get_backend
    from .train import train

    results: dict[str, TrainResult] = {}
    wall: dict[str, float] = {}
    for name in backends:
        get_backend(name)  # import the framework outside the timed region
        start = time.perf_counter()
        results[name] = train(
            spec,
            params,
            dataset.x_train,
            dataset.y_train,
            backend=name,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            momentum=momentum,
            seed=seed,
            validation=(dataset.x_val, dataset.y_val),
            progress=None if progress is None else progress(name),
        )
        wall[name] = time.perf_counter() - start
    reference = "numpy" if "numpy" in results else next(iter(results))
    divergence = {
        name: param_divergence(r.params, results[reference].params) for name, r in results.items()
    }
    return {"results": results, "wall": wall, "divergence": divergence, "reference": reference}


def _parse_backends(text: str | None) -> list[str]:
    from .backends import available_backends

    if text is None:
        installed = available_backends()
        return [b for b in TRAIN_BACKENDS if b in installed]
    names = [b.strip() for b in text.split(",") if b.strip()]
    bad = [b for b in names if b not in TRAIN_BACKENDS]
    if bad or not names:
        raise ValueError(
            f"--backends takes a comma-separated subset of {','.join(TRAIN_BACKENDS)}, got {text!r}"
        )
    return list(dict.fromkeys(names))


def run_compare(args: argparse.Namespace) -> int:
    """``mlp-parity compare``: one network, one init, the same batches on every backend."""
    from .train import check_settings

    backends = _parse_backends(args.backends)
    for name in backends:
        check_settings(
            backend=name,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            momentum=args.momentum,
            seed=args.seed,
        )
    spec = _spec_from_args(args)
    ds = _load_data(args, args.dtype)
    with output_folder(args.out) as out:
        return _compare(args, spec, ds, out, backends)


def _compare(args: argparse.Namespace, spec: Any, ds: Any, out: Path, backends: list[str]) -> int:
    from .params import init_params

    json_path, png_path = out / "compare.json", out / "compare.png"
    params = init_params(spec, seed=args.seed, dtype=args.dtype)
    skipped = [b for b in TRAIN_BACKENDS if b not in backends] if args.backends is None else []
    print(
        f"compare {spec} ({args.dtype}) on {', '.join(backends)}: {args.epochs} epochs, batch "
        f"{args.batch_size}, lr {args.lr:g}, momentum {args.momentum:g}, seed {args.seed}"
    )
    started = time.perf_counter()

    def progress(name: str) -> Callable[[Progress], None]:
        def line(e: int, n: int, r: dict[str, float]) -> None:
            print(f"  {name:<6} {epoch_line(e, n, r)}", flush=True)

        return EpochProgress(name, line)

    report = compare_backends(
        spec,
        params,
        ds,
        backends=backends,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        momentum=args.momentum,
        seed=args.seed,
        progress=progress,
    )
    total = time.perf_counter() - started
    print()
    print(compare_table(report))
    if skipped:
        print(f'(not installed, skipped: {", ".join(skipped)}; pip install "mlp_parity[all]")')
    worst = max(report["divergence"].values())
    same = worst <= PARITY_RTOL
    if args.dtype == "float64":
        print(
            f"{'same trajectory' if same else 'DIVERGED'}: max relative parameter divergence "
            f"{worst:.1e} {'<=' if same else '>'} {PARITY_RTOL:g}"
        )
    else:
        print(
            "(float32: rounding differences between the engines' matmuls compound over the steps, "
            "so float32 divergence can grow large without a bug; --dtype float64 checks parity)"
        )

    data = {
        "command": "compare",
        "spec": spec.to_dict(),
        "settings": {
            "dtype": args.dtype,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.lr,
            "momentum": args.momentum,
            "seed": args.seed,
            "init": f"init_params(seed={args.seed})",
            "batch_order": "np.random.default_rng(seed).permutation(n) per epoch",
            "train_metrics": "mean over the epoch's batches, before each update",
            "validation_metrics": "full pass after each epoch (numpy)",
        },
        "dataset": {
            "name": ds.name,
            "source": ds.source,
            "n_train": int(ds.x_train.shape[0]),
            "n_val": int(ds.x_val.shape[0]),
        },
        "reference": report["reference"],
        "parity_rtol": PARITY_RTOL if args.dtype == "float64" else None,
        "backends": {
            name: {
                "history": r.history,
                "final": {k: v[-1] for k, v in r.history.items() if v and k != "time"},
                "wall_time_s": report["wall"][name],
                "train_time_s": r.train_time,
                "samples_per_second": r.samples_per_second,
                "max_rel_param_divergence": report["divergence"][name],
            }
            for name, r in report["results"].items()
        },
        "skipped": skipped,
        "total_wall_time_s": total,
        "versions": _versions(),
    }
    write_json(json_path, data)
    written = [str(json_path)]
    try:
        from .plots import learning_curves, save_figure

        fig = learning_curves(
            {n: r.history for n, r in report["results"].items()},
            title=f"{spec}, {args.dtype}, batch {args.batch_size}, lr {args.lr:g}, momentum "
            f"{args.momentum:g} on {ds.name}",
        )
        save_figure(fig, png_path)
        written.append(str(png_path))
    except ImportError as e:
        print(f"(no PNG: {e})")
    print(f"wrote {', '.join(written)}  ({total:.1f} s)")
    return 0 if same or args.dtype != "float64" else 1


def compare_table(report: dict[str, Any]) -> str:
    """The per-backend table of :func:`compare_backends`' report."""
    ref = report["reference"]
    head = (
        f"{'backend':<8}{'train loss':>11}{'train acc':>10}{'val loss':>10}{'val acc':>9}"
        f"{'wall s':>8}{'samples/s':>11}  max rel. param divergence vs {ref}"
    )
    lines = [head]
    for name, r in report["results"].items():
        h = r.history
        lines.append(
            f"{name:<8}{h['loss'][-1]:>11.4f}{_pct(h['accuracy'][-1]):>10}"
            f"{h['val_loss'][-1]:>10.4f}{_pct(h['val_accuracy'][-1]):>9}"
            f"{report['wall'][name]:>8.1f}{r.samples_per_second:>11,.0f}  "
            f"{report['divergence'][name]:.1e}"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# mlp-parity tutorial


def original_backprop_vectorized(params: Any, x: np.ndarray, y: np.ndarray) -> Any:
    """``examples.tutorial.original_backprop`` (both bugs kept) without the per-sample loop:
    x (batch, in), y (batch, out); returns ``[(dW (fan_in, fan_out), db (fan_out,)), ...]``,
    the batch mean of the tutorial's per-sample gradients."""
    from .examples.tutorial import sigmoid

    dtype = params[0][0].dtype
    x, y = np.asarray(x, dtype), np.asarray(y, dtype)
    activations, zs = [x], []
    for w, b in params:
        zs.append(activations[-1] @ w + b)
        activations.append(sigmoid(zs[-1]))
    delta = (activations[-1] - y) / x.shape[0]  # bug 2: the gradient of the SUM over outputs
    grads = []
    for layer in range(len(params) - 1, -1, -1):
        grads.append((activations[layer].T @ delta, delta.sum(axis=0)))
        if layer > 0:
            delta = (delta @ params[layer][0].T) * sigmoid(zs[layer - 1])  # bug 1: s, not s(1-s)
    return grads[::-1]


def run_tutorial(args: argparse.Namespace) -> int:
    """``mlp-parity tutorial``: the tutorial's setup trained with its original (buggy) backprop,
    the corrected one, and optionally Keras, beside the tutorial's published numbers."""
    from .backends import available_backends, get_backend
    from .examples import tutorial as tut
    from .spec import MLPSpec
    from .train import check_settings

    check_settings(
        backend="numpy",
        epochs=args.epochs,
        batch_size=tut.BATCH_SIZE,
        learning_rate=tut.LEARNING_RATE,
        momentum=tut.MOMENTUM,
        seed=args.seed,
    )
    use_keras = "keras" in available_backends() if args.keras is None else args.keras
    if use_keras:
        get_backend("keras")  # an actionable ImportError now rather than after numpy's runs
    spec = MLPSpec(tut.SIZES, tut.ACTIVATION, tut.LOSS)
    ds = _load_data(args, args.dtype)
    with output_folder(args.out) as out:
        return _tutorial(args, spec, ds, out, use_keras)


def _tutorial(args: argparse.Namespace, spec: Any, ds: Any, out: Path, use_keras: bool) -> int:
    from .examples import tutorial as tut
    from .params import init_params
    from .train import train

    json_path, png_path = out / "tutorial.json", out / "tutorial.png"
    n_all = ds.x_train.shape[0]
    k = max(1, int(round(tut.TRAIN_FRACTION * n_all)))
    rows = np.sort(np.random.default_rng(args.seed).permutation(n_all)[:k])
    x, y = ds.x_train[rows], ds.y_train[rows]
    params = init_params(spec, seed=args.seed, dtype=args.dtype)
    print(
        f"tutorial {spec} ({args.dtype}): {args.epochs} epochs (the tutorial: {tut.EPOCHS}), "
        f"batch {tut.BATCH_SIZE}, lr {tut.LEARNING_RATE:g}, momentum {tut.MOMENTUM:g} "
        f"(assumed: the tutorial's values are unknown), {k} training rows "
        f"(a {tut.TRAIN_FRACTION:g} of {n_all})"
    )
    if args.per_sample:  # the tutorial's own loops, one sample at a time (slow)
        original, corrected = tut.original_backprop, tut.corrected_backprop
    else:  # the same gradients over the whole batch at once (tests prove them equal)
        original, corrected = original_backprop_vectorized, tut.corrected_backprop_vectorized
    runs: list[tuple[str, str, dict[str, Any]]] = [
        ("original", "original backprop (2 bugs), numpy", {"grad_fn": original}),
        ("corrected", "corrected backprop, numpy", {"grad_fn": corrected}),
    ]
    if use_keras:
        runs.append(("keras", "keras, SGD with momentum", {"backend": "keras"}))
    results: dict[str, TrainResult] = {}
    wall: dict[str, float] = {}
    for key, _label, extra in runs:

        def line(e: int, n: int, r: dict[str, float], key: str = key) -> None:
            print(f"  {key:<9} {epoch_line(e, n, r)}", flush=True)

        start = time.perf_counter()
        results[key] = train(
            spec,
            params,
            x,
            y,
            backend=extra.get("backend", "numpy"),
            epochs=args.epochs,
            batch_size=tut.BATCH_SIZE,
            learning_rate=tut.LEARNING_RATE,
            momentum=tut.MOMENTUM,
            seed=args.seed,
            validation=(ds.x_val, ds.y_val),
            grad_fn=extra.get("grad_fn"),
            progress=EpochProgress(key, line),
        )
        wall[key] = time.perf_counter() - start

    print()
    head = f"{'run':<38}{'epochs':>7}{'train acc':>10}{'val acc':>9}{'val loss':>10}{'wall s':>8}"
    print(head)
    for key, label, _ in runs:
        h = results[key].history
        print(
            f"{label:<38}{len(h['loss']):>7}{_pct(h['accuracy'][-1]):>10}"
            f"{_pct(h['val_accuracy'][-1]):>9}{h['val_loss'][-1]:>10.4f}{wall[key]:>8.1f}"
        )
    pub = tut.PUBLISHED
    print(
        f"{'published (tutorial, keras)':<38}{pub['epochs']:>7}"
        f"{_pct(pub['keras_train_accuracy']):>10}{_pct(pub['keras_val_accuracy']):>9}"
    )
    print(
        "(train acc: mean over the last epoch's batches; the tutorial trained on a quarter of "
        "full MNIST, 15,000 rows)"
    )
    data = {
        "command": "tutorial",
        "spec": spec.to_dict(),
        "settings": {
            "dtype": args.dtype,
            "epochs": args.epochs,
            "batch_size": tut.BATCH_SIZE,
            "learning_rate": tut.LEARNING_RATE,
            "momentum": tut.MOMENTUM,
            "seed": args.seed,
            "train_fraction": tut.TRAIN_FRACTION,
            "n_train": k,
        },
        "dataset": {"name": ds.name, "source": ds.source, "n_val": int(ds.x_val.shape[0])},
        "published": pub,
        "runs": {
            key: {"label": label, "history": results[key].history, "wall_time_s": wall[key]}
            for key, label, _ in runs
        },
        "versions": _versions(),
    }
    write_json(json_path, data)
    written = [str(json_path)]
    try:
        from .plots import learning_curves, save_figure

        fig = learning_curves(
            {key: results[key].history for key, _, _ in runs},
            title=f"tutorial {spec} on {k} rows of {ds.name}",
            references={
                "published keras train": pub["keras_train_accuracy"],
                "published keras validation": pub["keras_val_accuracy"],
            },
        )
        save_figure(fig, png_path)
        written.append(str(png_path))
    except ImportError as e:
        print(f"(no PNG: {e})")
    print(f"wrote {', '.join(written)}")
    return 0


# ----------------------------------------------------------------------------------------------
# Argument parsers


def _add_data_args(p: argparse.ArgumentParser, dataset: str) -> None:
    from .data import DATASETS

    p.add_argument(
        "--dataset",
        default=dataset,
        help=f"one of {', '.join(DATASETS)} (default {dataset}; offline: mnist-sample)",
    )
    p.add_argument("--data", default=None, metavar="DIR", help="folder with the dataset files")


def _add_sgd_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lr", type=float, default=DEFAULT_LR, help=f"(default {DEFAULT_LR})")
    p.add_argument(
        "--momentum", type=float, default=DEFAULT_MOMENTUM, help=f"(default {DEFAULT_MOMENTUM})"
    )
    p.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH, help=f"(default {DEFAULT_BATCH})"
    )
    p.add_argument("--seed", type=int, default=0, help="init and batch order (default 0)")


def register(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    add_spec_args: Callable[[argparse.ArgumentParser, str, str, str], None],
) -> None:
    """Add ``train``, ``compare`` and ``tutorial`` to the ``mlp-parity`` subparsers;
    ``add_spec_args`` is the CLI's ``--sizes/--activation/--loss`` helper."""
    p = sub.add_parser("train", help="train one backend; save/load the model as .npz")
    p.add_argument("--backend", choices=TRAIN_BACKENDS, default="numpy", help="(default numpy)")
    _add_data_args(p, DEFAULT_DATASET)
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="0 with --load: evaluate")
    add_spec_args(p, DEFAULT_SIZES, DEFAULT_ACTIVATION, DEFAULT_LOSS)
    p.set_defaults(sizes=None, activation=None, loss=None)  # None: not given (see --load)
    _add_sgd_args(p)
    p.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default=None,
        help=f"(default {DEFAULT_DTYPE}, or the --load file's)",
    )
    p.add_argument("--save", default=None, metavar="PARAMS.npz", help="write the trained model")
    p.add_argument(
        "--load",
        default=None,
        metavar="PARAMS.npz",
        help="start from a saved model (its sizes/activation/loss); momentum restarts at 0",
    )
    p.set_defaults(func=run_train)

    p = sub.add_parser(
        "compare",
        help="train one network on numpy, jax and keras from one init on the same batches",
    )
    p.add_argument(
        "--backends", default=None, help="comma-separated subset of numpy,jax,keras (installed)"
    )
    _add_data_args(p, DEFAULT_DATASET)
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help=f"(default {DEFAULT_EPOCHS})")
    add_spec_args(p, DEFAULT_SIZES, DEFAULT_ACTIVATION, DEFAULT_LOSS)
    _add_sgd_args(p)
    p.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default=COMPARE_DTYPE,
        help=f"(default {COMPARE_DTYPE}: exit 1 if parameters diverge by > {PARITY_RTOL:g})",
    )
    p.add_argument(
        "--out", default=DEFAULT_OUT, help=f"folder for compare.json/.png (default {DEFAULT_OUT})"
    )
    p.set_defaults(func=run_compare)

    p = sub.add_parser(
        "tutorial", help="the tutorial's setup: original (buggy) vs corrected backprop vs keras"
    )
    _add_data_args(p, DEFAULT_DATASET)
    p.add_argument(
        "--epochs",
        type=int,
        default=TUTORIAL_EPOCHS,
        help=f"(default {TUTORIAL_EPOCHS}; the tutorial ran 100)",
    )
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    p.add_argument("--seed", type=int, default=0, help="init, training rows, batch order")
    p.add_argument(
        "--per-sample",
        action="store_true",
        help="use the tutorial's per-sample backprop loops (same gradients, much slower)",
    )
    p.add_argument(
        "--keras",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also train with keras (default: if installed)",
    )
    p.add_argument(
        "--out", default=DEFAULT_OUT, help=f"folder for tutorial.json/.png (default {DEFAULT_OUT})"
    )
    p.set_defaults(func=run_tutorial)
