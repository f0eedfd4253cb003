"""Convention discovery: when grad_fn is wrong for the declared loss conventions, find the
conventions it is right for -- another reduction, a loss_scale of 0.5 or 2, an output
activation, an L2 term of any lambda (estimated by least squares of the difference against
2W) -- re-checked on problems of several batch sizes and output widths, so that a sum over the
batch is not mistaken for a factor that only fits one of them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..params import Params
from ..spec import LOSSES, OUTPUT_ACTIVATIONS, REDUCTIONS, MLPSpec
from .arguments import CONVENTION_DEFAULTS
from .evaluate import GradFn, Malformed, Reference, call_grad_fn, compare
from .layouts import UserLayout
from .search import Limits
from .variants import kink_at_zero, right_kink_grads

#: The loss scales tried besides the declared one: a halved or doubled squared error.
SCALES = (1.0, 0.5, 2.0)
#: Batch sizes of the problems every candidate is re-checked on (besides the counterexample).
CHECK_BATCHES = (3, 4)


@dataclass(frozen=True)
class Setting:
    """What check_backprop was told: the spec's names, the declared non-default conventions,
    the user's layout and the architectures allowed."""

    activation: str | tuple[str, ...]
    loss: str
    conventions: dict
    layout: UserLayout
    limits: Limits
    sizes: tuple[int, ...] | None

    def declared(self, key: str) -> object:
        if key == "loss":
            return self.loss
        return self.conventions.get(key, CONVENTION_DEFAULTS[key])

    def spec(self, shape: tuple[int, ...], **override: object) -> MLPSpec:
        """The spec of ``shape`` with the declared loss and conventions, or those overridden."""
        conv = {**self.conventions, **override}
        loss = conv.pop("loss", self.loss)
        conv = {k: v for k, v in conv.items() if v != CONVENTION_DEFAULTS[k]}
        if not self.layout.use_bias:
            conv["use_bias"] = False
        return MLPSpec(tuple(shape), self.activation, loss, **conv)  # type: ignore[arg-type]


def describe(match: dict) -> str:
    """``output_activation="sigmoid", loss_scale=0.5``: keyword arguments as written."""
    return ", ".join(
        f"{k}={v!r}" if isinstance(v, str) else f"{k}={v:.12g}" for k, v in match.items()
    )


def _problems(
    setting: Setting, spec: MLPSpec
) -> list[tuple[MLPSpec, Params, np.ndarray, np.ndarray]]:
    """Problems of batches ``CHECK_BATCHES`` and several outputs (where allowed), the
    counterexample's depth, seeded: the same every time."""
    lim = setting.limits
    if setting.sizes is not None:
        shape = setting.sizes
    else:
        hidden = (4,) * (spec.num_layers - 1)
        shape = (lim.input_width or 3, *hidden, lim.output_width or 3)
    out = []
    for i, n in enumerate(CHECK_BATCHES):
        rng = np.random.default_rng(1234 + i)
        params = []
        for a, b in zip(shape[:-1], shape[1:]):
            W = rng.normal(size=(a, b)) / np.sqrt(a)
            bias = 0.3 * rng.normal(size=b) if setting.layout.use_bias else np.zeros(b)
            params.append((W, bias))
        x = rng.normal(size=(n, shape[0]))
        y = np.asarray(LOSSES[setting.loss].targets(rng, n, shape[-1], 0), np.float64)
        out.append((spec, params, x, y))
    return [(dataclasses.replace(spec, sizes=tuple(shape)), p, x, y) for _, p, x, y in out]


def _candidates(setting: Setting) -> list[dict]:
    """Every combination of output activation, reduction and scale, then the losses on the
    logits whose output delta is ``a - y`` (``Loss.delta_of``); fewest changes first."""
    scales = list(dict.fromkeys([float(setting.declared("loss_scale")), *SCALES]))  # type: ignore[arg-type]
    heads: list[dict] = [{"output_activation": o} for o in OUTPUT_ACTIVATIONS]
    heads += [  # a backprop using a - y as its output delta is right for such a loss
        {"loss": name, "output_activation": loss.output_activations[0]}
        for name, loss in LOSSES.items()
        if loss.delta_of and name != setting.loss
    ]
    found = []
    for head in heads:
        for r in REDUCTIONS:
            for s in scales:
                cand = {**head, "reduction": r, "loss_scale": s}
                changes = sum(v != setting.declared(k) for k, v in cand.items())
                found.append((changes, cand))
    found.sort(key=lambda c: c[0])
    return [c for _, c in found]


def _fit_l2(got: list, ref: Params, params: Params) -> float:
    """Least squares lambda of ``got - ref = 2 lambda W`` over every weight matrix."""
    num = sum(float(np.vdot(g[0] - r[0], 2 * W)) for g, r, (W, _) in zip(got, ref, params))
    den = sum(float(np.vdot(2 * W, 2 * W)) for W, _ in params)
    return num / den if den > 0 else 0.0


def _passes(reference, spec, params, x, y, got, layout, ref) -> bool:
    if all(ok for _, _, ok in compare(spec, params, x, y, got, ref, layout)):
        return True
    if kink_at_zero(spec, params, x):
        alt = right_kink_grads(reference, spec, params, x, y)
        return all(ok for _, _, ok in compare(spec, params, x, y, got, alt, layout))
    return False


def discover(
    grad_fn: GradFn,
    reference: Reference,
    setting: Setting,
    counterexample: tuple[MLPSpec, Params, np.ndarray, np.ndarray],
) -> dict | None:
    """The conventions (only those that differ from the declared ones) for which grad_fn is
    right on the counterexample and on problems of other batch sizes and widths; None when
    none is, or grad_fn fails there for another reason.

    Long because each candidate is fitted (lambda) on the first problem and only re-checked
    on the others, in one loop."""
    spec = counterexample[0]
    problems = [*_problems(setting, spec), counterexample]
    alive: list[tuple[dict, float | None]] = [(c, None) for c in _candidates(setting)]
    declared_l2 = float(setting.declared("l2"))  # type: ignore[arg-type]
    for p_spec, params, x, y in problems:
        try:
            got = call_grad_fn(grad_fn, p_spec, params, x, y, setting.layout)
        except Malformed:
            return None
        if not all(np.all(np.isfinite(t)) for pair in got for t in pair):
            return None  # NaN/inf is no convention: the per-tensor lines say where
        kept = []
        for cand, lam in alive:
            try:
                base = setting.spec(p_spec.sizes, **cand, l2=0.0)
            except ValueError:
                continue  # not a valid combination for this loss
            with np.errstate(all="ignore"):
                ref = reference.grads(base, params, x, y)
            if not all(np.all(np.isfinite(t)) for pair in ref for t in pair):
                kept.append((cand, lam))  # nothing to learn on this problem
                continue
            tries = [lam] if lam is not None else [declared_l2, _fit_l2(got, ref, params)]
            for lam_try in tries:
                if not np.isfinite(lam_try) or lam_try < 0:
                    continue
                full = setting.spec(p_spec.sizes, **cand, l2=lam_try)
                with_l2 = [(gW + 2 * lam_try * W, gb) for (gW, gb), (W, _) in zip(ref, params)]
                if _passes(reference, full, params, x, y, got, setting.layout, with_l2):
                    kept.append((cand, lam_try))
                    break
        alive = kept
        if not alive:
            return None
    matches = []
    for cand, lam in alive:
        full = {**cand, "l2": lam}
        changed = {k: v for k, v in full.items() if not _same(v, setting.declared(k))}
        if changed:
            matches.append(changed)
    return min(matches, key=len) if matches else None


def _same(a: object, b: object) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=0))  # type: ignore[arg-type]
