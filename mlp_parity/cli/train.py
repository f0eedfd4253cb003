"""``mlp-parity train``: train (or, with ``--epochs 0``, evaluate) one backend's network;
``--save``/``--load`` the model as ``.npz``."""

from __future__ import annotations

import argparse
from typing import Any

from . import _args
from ._console import EpochProgress, pct, print_epoch


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from ..train import TRAIN_BACKENDS

    p = sub.add_parser("train", help="train one backend; save/load the model as .npz")
    p.add_argument("--backend", choices=TRAIN_BACKENDS, default="numpy", help="(default numpy)")
    _args.add_data_args(p)
    p.add_argument(
        "--epochs", type=int, default=_args.DEFAULT_EPOCHS, help="0 with --load: evaluate"
    )
    _args.add_spec_args(p, _args.DEFAULT_SIZES, _args.DEFAULT_ACTIVATION, _args.DEFAULT_LOSS)
    p.set_defaults(sizes=None, activation=None, loss=None)  # None: not given (see --load)
    _args.add_sgd_args(p)
    p.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default=None,
        help=f"(default {_args.DEFAULT_DTYPE}, or the --load file's)",
    )
    p.add_argument("--save", default=None, metavar="PARAMS.npz", help="write the trained model")
    p.add_argument(
        "--load",
        default=None,
        metavar="PARAMS.npz",
        help="start from a saved model (its sizes/activation/loss); momentum restarts at 0",
    )
    p.set_defaults(func=run)


def _start(args: argparse.Namespace, seed: int) -> tuple[Any, Any]:
    """``(spec, params)``: from ``--load`` (which must not clash with the spec options), else
    a fresh initialisation."""
    from ..params import cast_params, init_params, load_params, params_dtype

    if not args.load:
        spec = _args.spec_from_args(args)
        return spec, init_params(spec, seed=seed, dtype=args.dtype or _args.DEFAULT_DTYPE)
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
    return spec, params


def _evaluate(spec: Any, params: Any, ds: Any, dtype: str) -> None:
    from ..train import evaluate

    loss, acc = evaluate(spec, params, ds.x_train, ds.y_train)
    vloss, vacc = evaluate(spec, params, ds.x_val, ds.y_val)
    print(f"evaluate {spec} ({dtype}), no training:")
    print(f"  train      loss {loss:.4f}  acc {pct(acc)}")
    print(f"  validation loss {vloss:.4f}  acc {pct(vacc)}")


def run(args: argparse.Namespace) -> int:
    """Check every setting and the ``--save`` target, then train (or evaluate) and save."""
    from .._io import check_writable, npz_path
    from ..params import params_dtype, save_params
    from ..train import check_settings, train

    epochs, batch_size, lr, momentum, seed = check_settings(
        backend=args.backend,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        momentum=args.momentum,
        seed=args.seed,
    )
    save_to = check_writable(npz_path(args.save), "--save file") if args.save else None
    spec, params = _start(args, seed)
    dtype = str(params_dtype(params))
    ds = _args.load_data(args, dtype)
    if spec.sizes[0] != ds.x_train.shape[1]:
        raise ValueError(
            f"the network takes {spec.sizes[0]} inputs but {ds.name} images have "
            f"{ds.x_train.shape[1]} pixels; use --sizes {ds.x_train.shape[1]},...,10"
        )
    if epochs == 0:
        _evaluate(spec, params, ds, dtype)
    else:
        print(
            f"train {spec} ({dtype}) on {args.backend}: {epochs} epochs, batch {batch_size}, "
            f"lr {lr:g}, momentum {momentum:g}, seed {seed}"
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
        )
        h = result.history
        print(
            f"final: train acc {pct(h['accuracy'][-1]).strip()}, validation acc "
            f"{pct(h['val_accuracy'][-1]).strip()}; {result.train_time:.1f} s training, "
            f"{result.samples_per_second:,.0f} samples/s"
        )
        params = result.params
    if save_to is not None:
        print(f"saved {save_params(save_to, spec, params)}")
    return 0
