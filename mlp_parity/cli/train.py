"""``mlp-parity train``: train (or, with ``--epochs 0``, evaluate) one backend's network;
``--save``/``--load`` the model as ``.npz``."""

from __future__ import annotations

import argparse
from typing import Any

from . import _args, _distributed
from ._console import EpochProgress, pct, print_epoch

DESCRIPTION = "Train one backend's network on a digits dataset; save or load it as .npz."
EXAMPLES = (
    "mlp-parity train --backend numpy --dataset mnist-sample --epochs 10 --save model.npz",
    "mlp-parity train --load model.npz --epochs 0        # evaluate a saved model",
    "mlp-parity train --load model.npz --epochs 5 --backend jax --save more.npz",
)
#: What check_fits names when the training estimate does not fit.
TRAINING_MEMORY = "parameters, velocities, gradients and batch buffers for training"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from ..train import TRAIN_BACKENDS

    p = _args.add_command(
        sub,
        "train",
        "train one backend; save/load the model as .npz",
        DESCRIPTION,
        EXAMPLES,
    )
    p.add_argument(
        "--backend",
        choices=TRAIN_BACKENDS,
        default="numpy",
        help="engine that trains: numpy (hand-written backprop), jax or keras (default numpy)",
    )
    _args.add_data_args(p)
    p.add_argument(
        "--epochs",
        type=_args.int_at_least(0),
        default=_args.DEFAULT_EPOCHS,
        help=f"passes over the training data, >= 0; 0 with --load evaluates the saved model "
        f"(default {_args.DEFAULT_EPOCHS})",
    )
    _args.add_spec_args(p, _args.DEFAULT_SIZES, _args.DEFAULT_ACTIVATION, _args.DEFAULT_LOSS)
    p.set_defaults(sizes=None, activation=None, loss=None)  # None: not given (see --load)
    _args.add_sgd_args(p)
    p.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default=None,
        help=f"precision of training (default {_args.DEFAULT_DTYPE}, or the --load file's)",
    )
    p.add_argument(
        "--save",
        default=None,
        metavar="PARAMS.npz",
        help="write the trained model there (.npz appended when missing)",
    )
    p.add_argument(
        "--load",
        default=None,
        metavar="PARAMS.npz",
        help="start from a model saved by --save (its sizes/activation/loss; PARAMS finds "
        "PARAMS.npz too); momentum restarts at 0",
    )
    _distributed.add_args(p)
    p.set_defaults(func=run)


def epochs_text(n: int) -> str:
    """``1 epoch``, ``10 epochs``."""
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def speed_text(result: Any) -> str:
    """The training throughput without JIT compilation, which lands in epoch 1: measured over
    the later epochs, so with a single epoch it is not measured."""
    if result.epochs < 2:
        return "n/a (measured from epoch 2 on, for every backend alike: JIT compiles in epoch 1)"
    return f"{result.samples_per_second:,.0f}"


def check_shapes(spec: Any, ds: Any, loaded: str | None) -> None:
    """The network's input and output widths must suit ``ds``: a one-line ``ValueError`` that
    says what to change, before any training (``loaded``: the ``--load`` file, whose spec
    cannot be changed by ``--sizes``)."""
    features, classes = ds.x_train.shape[1], ds.num_classes
    n_in, n_out = spec.sizes[0], spec.sizes[-1]
    if n_in == features and n_out >= classes:
        return
    got = f"{n_in} inputs" if n_in != features else f"{n_out} outputs"
    want = f"{features} features" if n_in != features else f"{classes} classes"
    if loaded:
        raise ValueError(
            f"{ds.name} has {want} but the network loaded from {loaded} has {got}; --load a "
            f"network made for this data, or train a new one with --sizes {features},...,{classes}"
        )
    raise ValueError(
        f"{ds.name} has {want} but --sizes gives the network {got}; use --sizes "
        f"{features},...,{classes}"
    )


def _network(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """``(spec, params, dtype)``: from ``--load`` (which must not clash with the spec options;
    ``args.load`` becomes the file read, ``m.npz`` for ``m``), else the spec options with
    ``params`` None (initialised once the sizes are known to fit)."""
    from ..params import cast_params, load_params, params_dtype, params_file

    if not args.load:
        return _args.spec_from_args(args), None, args.dtype or _args.DEFAULT_DTYPE
    args.load = str(params_file(args.load))
    spec, params = load_params(args.load)
    given = {"sizes": args.sizes, "activation": args.activation, "loss": args.loss}
    clash = [f"--{k}" for k, v in given.items() if v is not None and v != getattr(spec, k)]
    if clash:
        raise ValueError(
            f"{', '.join(clash)} {'differs' if len(clash) == 1 else 'differ'} from the network in"
            f" {args.load} ({spec}); the spec "
            "comes from the --load file, leave them out"
        )
    if args.dtype is not None:
        params = cast_params(params, args.dtype)
    print(f"loaded {args.load}: {spec}, {params_dtype(params)}")
    return spec, params, str(params_dtype(params))


def _evaluate(spec: Any, params: Any, ds: Any, dtype: str) -> None:
    from ..train import evaluate

    loss, acc = evaluate(spec, params, ds.x_train, ds.y_train)
    vloss, vacc = evaluate(spec, params, ds.x_val, ds.y_val)
    print(f"evaluate {spec} ({dtype}), no training:")
    print(f"  train      loss {loss:.4f}  acc {pct(acc)}")
    print(f"  validation loss {vloss:.4f}  acc {pct(vacc)}")


def run(args: argparse.Namespace) -> int:
    """Check every setting, the ``--save`` target, the network against the data and memory,
    then train (or evaluate) and save."""
    from .._io import check_writable
    from ..params import check_fits, init_params, save_params, training_bytes
    from ..params_io import save_target
    from ..train import check_settings, train

    devices = _distributed.init_from_args(args)  # before JAX initialises
    if devices != 1 and args.backend != "jax":  # before any work, as every other check
        raise ValueError(f"--devices works with --backend jax only, not {args.backend!r}")
    epochs, batch_size, lr, momentum, seed = check_settings(
        backend=args.backend,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        momentum=args.momentum,
        seed=args.seed,
    )
    save_to = check_writable(save_target(args.save), "--save file") if args.save else None
    spec, params, dtype = _network(args)
    ds = _args.load_data(args, dtype)
    check_shapes(spec, ds, args.load)
    if epochs:
        check_fits(spec, dtype, training_bytes(spec, dtype, batch_size), TRAINING_MEMORY)
    if params is None:
        params = init_params(spec, seed=seed, dtype=dtype)
    if epochs == 0:
        _evaluate(spec, params, ds, dtype)
    else:
        print(
            f"train {spec} ({dtype}) on {args.backend}: {epochs_text(epochs)}, batch "
            f"{batch_size}, lr {lr:g}, momentum {momentum:g}, seed {seed}"
            + (f", data-parallel on {devices} devices" if devices != 1 else "")
        )
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
            progress=EpochProgress(args.backend, print_epoch()),
            devices=devices,
        )
        h = result.history
        print(
            f"final: train acc {pct(h['accuracy'][-1]).strip()}, validation acc "
            f"{pct(h['val_accuracy'][-1]).strip()}; {result.train_time:.1f} s training, "
            f"{speed_text(result)} samples/s"
        )
        params = result.params
    if save_to is not None:
        print(f"saved {save_params(save_to, spec, params)}")
    return 0
