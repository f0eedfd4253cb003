"""The debugger's results: the counterexample, per-tensor checks, and the report that prints
them as a table with the diagnoses."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..gradcheck import TensorComparison
from ..params import Params
from ..spec import MLPSpec
from .layouts import UserLayout
from .search import Limits


@dataclass(frozen=True)
class Counterexample:
    """A (minimal) failing problem: ``grad_fn(ce.params, ce.x, ce.y)`` reproduces it."""

    spec: MLPSpec
    params: Params
    x: np.ndarray
    y: np.ndarray
    layout: UserLayout = UserLayout()

    @property
    def args(self) -> tuple[object, np.ndarray, np.ndarray]:
        """``(params, x, y)`` as grad_fn takes them (its layout): ``grad_fn(*ce.args)``."""
        lay = self.layout
        return lay.params_to_user(self.params), lay.data_to_user(self.x), lay.data_to_user(self.y)

    @property
    def sizes(self) -> tuple[int, ...]:
        return self.spec.sizes

    @property
    def batch(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class TensorCheck:
    """One gradient tensor of the counterexample against the reference."""

    name: str
    comparison: TensorComparison
    ok: bool
    diagnosis: str = ""
    shape: tuple[int, ...] = ()


@dataclass
class BackpropReport:
    """The verdict of :func:`check_backprop`; ``str(report)`` is the human-readable version.

    ``wrong`` names exactly the tensors (``"W0"``, ``"b2"``, ...) that are wrong on the
    ``counterexample`` (all of them when ``grad_fn`` raised or returned a malformed structure);
    ``error`` is that failure's message; ``summary`` the one-line localisation;
    ``examples_run`` the problems grad_fn was checked on, while searching and shrinking:
    ``examples_searched`` (distinct problems tried until the failure was found, the failing
    one included; at most ``max_examples``) plus ``shrink_calls``.

    ``matching_convention`` holds, when grad_fn is wrong for the declared conventions but
    right for others, the keyword arguments that make it pass (e.g. ``{"output_activation":
    "sigmoid", "loss_scale": 0.5}``); None otherwise. The verdict stays not ok.
    Tensors are named as grad_fn names them (``W1``, ``b1`` with dict params).

    ``complete`` is False when ``deadline_s`` stopped the search (or the shrinking) early:
    then ``ok`` means "no mismatch found so far" and the report prints as ``PARTIAL``; a
    failure found in time is still a definite ``FAILED``, its counterexample perhaps not
    minimal.
    """

    ok: bool
    activation: str | tuple[str, ...]
    loss: str
    examples_run: int
    wrong: frozenset[str] = frozenset()
    counterexample: Counterexample | None = None
    tensors: list[TensorCheck] = field(default_factory=list)
    summary: str = ""
    error: str | None = None
    reference: str = "jax"
    grad_dtype: str = ""
    sizes: tuple[int, ...] | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    searched: bool = True  # False for check_example: one given problem, no search
    examples_searched: int = 0
    shrink_calls: int = 0
    max_examples: int | None = None
    complete: bool = True
    time_limit: float | None = None
    conventions: dict = field(default_factory=dict)
    layout: UserLayout = UserLayout()
    limits: Limits | None = None
    matching_convention: dict | None = None
    unshrunk: bool = False  # a wrong shape: reported on the first example that showed it

    def _ok_text(self) -> str:
        """``OK, 100 examples (3.2 s)``, or ``PARTIAL, stopped after 12 ...``."""
        if not self.searched:
            return f"OK, the given problem ({self.seconds:.1f} s)"
        if self.complete:
            return f"OK, {self.examples_searched} examples ({self.seconds:.1f} s)"
        return (
            f"PARTIAL, stopped after {self.examples_searched} of {self.max_examples} examples"
            f" (time limit {self.time_limit:g} s; {self.seconds:.1f} s): no mismatch found so"
            " far, the search is incomplete"
        )

    def _found_text(self) -> str:
        """``, found after 7 of at most 20 examples, shrunk in 28 more calls``."""
        if not self.searched:
            return ""
        text = f", found after {self.examples_searched} of at most {self.max_examples} examples"
        if self.shrink_calls:
            text += f", shrunk in {self.shrink_calls} more calls"
        return text

    @property
    def diagnoses(self) -> dict[str, str]:
        """``{tensor name: one-line diagnosis}`` for every wrong tensor."""
        return {t.name: t.diagnosis for t in self.tensors if not t.ok}

    def __str__(self) -> str:
        """The report as text. Long because the header, the convention match, the table, the
        counterexample and the notes are laid out in their order in one place."""
        act = self.activation if isinstance(self.activation, str) else ",".join(self.activation)
        where = (
            "-".join(map(str, self.sizes))
            if self.sizes
            else f"drawn networks ({(self.limits or Limits()).describe()})"
        )
        extra = ", ".join(
            f"{k}={v!r}" if isinstance(v, str) else f"{k}={v:g}"
            for k, v in self.conventions.items()
        )
        extra = ", ".join(p for p in (extra, self.layout.describe()) if p)
        if extra:
            where += f" ({extra})"
        ref = f"reference: {self.reference} (float64)"
        name = "check_backprop" if self.searched else "check_example"
        if self.ok:
            matches = "grad_fn matched" if not self.complete else "grad_fn matches"
            lines = [f"{name}: {self._ok_text()}; {matches} the gradient of {act} /"
                     f" {self.loss} on {where}; {ref}"]  # fmt: skip
            return "\n".join(lines + [f"note: {n}" for n in self.notes])
        ce = self.counterexample
        order = (
            [ce.layout.name(n) for n in ce.layout.checked(ce.spec.tensor_names)]
            if ce is not None
            else sorted(self.wrong)
        )
        wrong = [n for n in order if n in self.wrong]
        if not self.searched:
            on = "the given problem"
        elif self.unshrunk:
            on = "the first example that showed it (a wrong shape: reported unshrunk)"
        elif self.complete:
            on = "a minimal counterexample"
        else:
            on = "a counterexample (maybe not minimal: the time limit stopped the shrinking)"
        what = f"{len(wrong)} of {len(order)} tensors wrong ({', '.join(wrong)})"
        if self.error is not None and self.error.startswith("grad_fn raised"):
            what = "grad_fn raised"  # no tensor to judge
        lines = [
            f"{name}: FAILED, {what} on {on}{self._found_text()} ({self.seconds:.1f} s); {ref}",
        ]
        if self.matching_convention:  # said first: the code is right, for other conventions
            lines.append(f"=> {self.summary}")
        if ce is not None:
            lines.append(
                f"counterexample: sizes {ce.sizes} ({ce.spec}), batch {ce.batch}"
                + (f"; grad_fn returns {self.grad_dtype}" if self.grad_dtype else "")
            )
        if self.error is not None:
            lines.append(f"error: {self.error}")
        if self.tensors:
            lines.extend(_table(self.tensors, ce))
        if self.summary and not self.matching_convention:
            lines.append(f"=> {self.summary}")
        if ce is not None:
            lines.extend(_arrays_text(ce))
            if ce.layout.is_default:
                lines.append(
                    "reproduce: grads = grad_fn(report.counterexample.params,"
                    " report.counterexample.x, report.counterexample.y)"
                )
            else:
                lines.append("reproduce: grads = grad_fn(*report.counterexample.args)")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _table(tensors: list[TensorCheck], ce: Counterexample | None) -> list[str]:
    """The per-tensor table, then the diagnosis of each wrong tensor."""
    lines = [
        f"  {'tensor':<7}{'shape':<12}{'max abs err':>12}{'max rel err':>12}"
        f"{'cosine':>10}{'scale':>11}  result"
    ]
    for t in tensors:
        c = t.comparison
        shape = str(t.shape).replace(" ", "") if t.shape else ""
        lines.append(
            f"  {t.name:<7}{shape:<12}{_err(c.max_abs):>12}{_err(c.max_rel):>12}"
            f"{fmt_num(c.cosine):>10}{fmt_num(c.scale):>11}"
            f"  {'ok' if t.ok else 'WRONG'}"
        )
    bad = [t for t in tensors if not t.ok]
    if bad:
        lines.append("diagnosis:")
        lines.extend(f"  {t.name}: {t.diagnosis}" for t in bad)
    return lines


def _err(v: float) -> str:
    return "inf" if not np.isfinite(v) or v > 1e100 else f"{v:.3e}"


def fmt_num(v: float) -> str:
    """A cosine or scale factor in a report: 4 significant digits, or ``nan``."""
    return "nan" if not np.isfinite(v) else f"{v:.4g}"


def _arrays_text(ce: Counterexample, max_entries: int = 48) -> list[str]:
    """The counterexample's arrays when it is small enough to read."""
    lay = ce.layout
    arrays = {"x": lay.data_to_user(ce.x), "y": lay.data_to_user(ce.y)}
    for i, (W, b) in enumerate(ce.params):
        arrays[lay.name(f"W{i}")] = lay.user_w(W)
        if lay.use_bias:
            arrays[lay.name(f"b{i}")] = lay.user_b(b)
    if sum(a.size for a in arrays.values()) > max_entries:
        return []
    out = []
    for k, a in arrays.items():
        text = np.array2string(a, precision=4, separator=", ", max_line_width=200)
        out.append(f"  {k} = " + " ".join(text.split()))
    return out
