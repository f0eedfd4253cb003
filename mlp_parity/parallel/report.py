"""The data-parallel checker's verdict and how it prints."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..debug.report import Counterexample, fmt_num
from ..gradcheck import TensorComparison


@dataclass
class DataParallelReport:
    """What :func:`check_data_parallel` found; ``str(report)`` is the readable version.

    ``ok``: every device count matched the float64 one-device reference on every problem
    tried. Otherwise ``first_broken`` is the smallest device count that is wrong on the
    (shrunk) ``counterexample``, ``by_count`` maps each device count to ``"ok"`` or its
    diagnosis there, ``tensors`` each wrong tensor's diagnosis at ``first_broken`` (with its
    ``comparisons``), and ``diagnosis`` the one-line verdict. ``uneven_tested``: batches that
    do not divide by the device count were drawn too (``grad_fn`` takes a ``mask``).
    """

    ok: bool
    activation: str
    loss: str
    device_counts: tuple[int, ...]
    examples_searched: int = 0
    shrink_calls: int = 0
    max_examples: int = 0
    uneven_tested: bool = False
    complete: bool = True
    first_broken: int | None = None
    diagnosis: str = ""
    by_count: dict[int, str] = field(default_factory=dict)
    tensors: dict[str, str] = field(default_factory=dict)
    comparisons: list[TensorComparison] = field(default_factory=list)
    counterexample: Counterexample | None = None
    padded: int | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def wrong(self) -> frozenset[str]:
        return frozenset(self.tensors)

    def __str__(self) -> str:
        counts = ", ".join(map(str, self.device_counts))
        ref = "reference: jax autodiff (float64, one device)"
        if self.ok:
            state = "OK" if self.complete else "PARTIAL (time limit; no mismatch so far)"
            even = "even and uneven batches" if self.uneven_tested else "batches dividing evenly"
            lines = [
                f"check_data_parallel: {state}, {self.examples_searched} examples at {counts} "
                f"devices ({even}; {self.seconds:.1f} s); grad_fn matches the gradient of "
                f"{self.activation} / {self.loss}; {ref}"
            ]
            if not self.uneven_tested:
                lines.append(
                    "note: grad_fn takes no mask, so batches that do not divide by the device "
                    "count were not tried; give it a mask=None parameter to test them"
                )
            return "\n".join(lines + [f"note: {n}" for n in self.notes])
        lines = [
            f"check_data_parallel: FAILED at {self.first_broken} devices, found after "
            f"{self.examples_searched} of at most {self.max_examples} examples"
            + (f", shrunk in {self.shrink_calls} more calls" if self.shrink_calls else "")
            + f" ({self.seconds:.1f} s); {ref}"
        ]
        ce = self.counterexample
        if ce is not None:
            pad = ", padded to a multiple of the device count with a mask" if self.padded else ""
            lines.append(f"counterexample: sizes {ce.sizes} ({ce.spec}), batch {ce.batch}{pad}")
        lines.append("  devices  result")
        lines += [
            f"  {n:>7}  {text if text == 'ok' else 'WRONG: ' + text}"
            for n, text in self.by_count.items()
        ]
        if self.comparisons:
            lines.append(f"  at {self.first_broken} devices, per tensor:")
            lines.append(
                f"    {'tensor':<7}{'max abs err':>12}{'max rel err':>12}{'cosine':>10}"
                f"{'scale':>11}  result"
            )
            for c in self.comparisons:
                bad = c.name in self.tensors
                lines.append(
                    f"    {c.name:<7}{c.max_abs:>12.3e}{c.max_rel:>12.3e}{fmt_num(c.cosine):>10}"
                    f"{fmt_num(c.scale):>11}  {'WRONG' if bad else 'ok'}"
                )
        lines.append(f"=> {self.diagnosis}")
        lines.append(
            "reproduce: make_grad_fn(mesh)(params, x, y) on report.counterexample, x and y "
            "sharded over 'data' of a mesh of that many devices"
        )
        return "\n".join(lines + [f"note: {n}" for n in self.notes])
