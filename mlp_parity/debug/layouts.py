"""The user's layout at the debugger's boundary: parameters, data and gradients converted between
the package's ``[(W, b), ...]`` rows (``W`` (in, out), ``b`` (out,), ``x`` (batch, in)) and what a
``grad_fn`` takes and returns: ``layout="columns"`` (``W`` (out, in), ``b`` (out, 1), ``x``
(in, batch)), ``layout="torch"`` (``W`` (out, in) as ``torch.nn.Linear.weight``, ``b`` (out,),
``x`` (batch, in)), ``bias_shape`` (``"vector"`` (out,), ``"row"`` (1, out), ``"column"`` (out,
1); default: the layout's), ``params="dict"`` (``{"W1": ..., "b1": ...}``, 1-based; gradients
keyed ``W1`` or ``dW1``) and bias-free networks (weights only). Internally the debugger always
holds rows and pairs, with zero biases when there are none."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..params import Params

LAYOUTS = ("rows", "columns", "torch")
PARAM_KINDS = ("list", "dict")
#: A bias's shape by name, for ``fan_out`` outputs.
BIAS_SHAPES = {
    "vector": lambda n: (n,),
    "row": lambda n: (1, n),
    "column": lambda n: (n, 1),
}
#: Each layout: (W is (out, in), data is (features, batch), its bias shape, its words).
_LAYOUT_FACTS = {
    "rows": (False, False, "vector", "W (in, out), b (out,), x (batch, in)"),
    "columns": (True, True, "column", "W (out, in), b (out, 1), x (in, batch)"),
    "torch": (True, False, "vector", "W (out, in), b (out,), x (batch, in)"),
}


def layouts_text() -> str:
    """Every layout and bias shape in a few words (for a grad_fn that crashed on shapes)."""
    layouts = "; ".join(f"{name}: {facts[3]}" for name, facts in _LAYOUT_FACTS.items())
    return f"{layouts}; other biases: bias_shape={'/'.join(BIAS_SHAPES)}"


class Malformed(Exception):
    """grad_fn raised or returned something that is not the gradients in its layout."""


class LayoutError(Malformed):
    """A gradient of the wrong shape: a layout mistake, reported on the first example found
    (shrinking would only hide it in a network where both shapes agree)."""


@dataclass(frozen=True)
class UserLayout:
    """How a ``grad_fn`` lays out its parameters, data and gradients."""

    layout: str = "rows"
    params: str = "list"
    use_bias: bool = True
    bias_shape: str | None = None  # None: the layout's own

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.params not in PARAM_KINDS:
            raise ValueError(f"params must be one of {PARAM_KINDS}, got {self.params!r}")
        if not isinstance(self.use_bias, (bool, np.bool_)):
            raise TypeError(f"use_bias must be True or False, got {self.use_bias!r}")
        if self.bias_shape is not None and self.bias_shape not in BIAS_SHAPES:
            raise ValueError(
                f"bias_shape must be one of {tuple(BIAS_SHAPES)} or None, got {self.bias_shape!r}"
            )
        if self.bias_shape == _LAYOUT_FACTS[self.layout][2]:
            object.__setattr__(self, "bias_shape", None)  # the layout's own: one spelling

    @property
    def is_default(self) -> bool:
        return self == UserLayout()

    @property
    def columns(self) -> bool:
        """Data laid out (features, batch)."""
        return _LAYOUT_FACTS[self.layout][1]

    @property
    def out_in(self) -> bool:
        """Weights laid out (fan_out, fan_in)."""
        return _LAYOUT_FACTS[self.layout][0]

    @property
    def bias(self) -> str:
        """The bias shape's name: declared, else the layout's."""
        return self.bias_shape or _LAYOUT_FACTS[self.layout][2]

    @property
    def keyed(self) -> bool:
        return self.params == PARAM_KINDS[1]

    # -- names ---------------------------------------------------------------------------------

    def name(self, internal: str) -> str:
        """The user's name of an internal tensor name (``W0`` -> ``W1`` with dict params)."""
        kind, i = internal[0], int(internal[1:])
        return f"{kind}{i + 1 if self.keyed else i}"

    def checked(self, names: Sequence[str]) -> list[str]:
        """The internal names the user's gradients hold (no biases without ``use_bias``)."""
        return [n for n in names if self.use_bias or n[0] == "W"]

    def describe(self) -> str:
        """``layout="columns", params="dict", use_bias=False`` (the non-default parts)."""
        parts = []
        if self.layout != "rows":
            parts.append(f"layout={self.layout!r}")
        if self.bias_shape is not None and self.use_bias:
            parts.append(f"bias_shape={self.bias_shape!r}")
        if self.params != "list":
            parts.append(f"params={self.params!r}")
        if not self.use_bias:
            parts.append("use_bias=False")
        return ", ".join(parts)

    # -- shapes --------------------------------------------------------------------------------

    def w_shape(self, fan_in: int, fan_out: int) -> tuple[int, int]:
        return (fan_out, fan_in) if self.out_in else (fan_in, fan_out)

    def b_shape(self, fan_out: int) -> tuple[int, ...]:
        return BIAS_SHAPES[self.bias](fan_out)

    def formulas(self, i: int) -> tuple[str, str, str]:
        """Layer ``i``'s bias gradient, weight gradient and back-propagated product as the
        user writes them: rows (batch, features) with W (in, out), columns (features, batch)
        with W (out, in), or torch (batch, features) with W (out, in)."""
        if self.columns:
            return f"delta{i}.sum(axis=1)", f"delta{i} @ a{i}.T", f"W{i + 1}.T @ delta{i + 1}"
        if self.out_in:
            return f"delta{i}.sum(axis=0)", f"delta{i}.T @ a{i}", f"delta{i + 1} @ W{i + 1}"
        return f"delta{i}.sum(axis=0)", f"a{i}.T @ delta{i}", f"delta{i + 1} @ W{i + 1}.T"

    def user_w(self, W: np.ndarray) -> np.ndarray:
        """An internal (in, out) weight matrix as the user holds it (a view)."""
        return W.T if self.out_in else W

    def user_b(self, b: np.ndarray) -> np.ndarray:
        """An internal (out,) bias as the user holds it (a view)."""
        return b.reshape(self.b_shape(b.shape[0]))

    def shape_of(self, internal: str, sizes: Sequence[int]) -> tuple[int, ...]:
        i = int(internal[1:])
        if internal[0] == "W":
            return self.w_shape(sizes[i], sizes[i + 1])
        return self.b_shape(sizes[i + 1])

    # -- to the user ---------------------------------------------------------------------------

    def params_to_user(self, pairs: Params) -> object:
        """Fresh copies of ``pairs`` in the user's layout."""
        out = []
        for W, b in pairs:
            out.append((np.array(self.user_w(W), order="C"), np.array(self.user_b(b))))
        if self.keyed:
            d: dict[str, np.ndarray] = {}
            for i, (w, b) in enumerate(out, start=1):
                d[f"W{i}"] = w
                if self.use_bias:
                    d[f"b{i}"] = b
            return d
        return [w for w, _ in out] if not self.use_bias else out

    def data_to_user(self, a: np.ndarray) -> np.ndarray:
        """``x`` or ``y`` (batch, n) as the user holds it: a fresh copy."""
        return np.array(a.T, order="C") if self.columns else a.copy()

    def data_from_user(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(a).T if self.columns else np.asarray(a)

    def params_from_user(self, params: object, sizes: Sequence[int]) -> Params:
        """The user's parameters as internal pairs (for :func:`check_example`)."""
        grads = self.grads_from_user(params, sizes, what="params")
        return [(W, b) for W, b in grads]

    # -- from the user -------------------------------------------------------------------------

    def grads_from_user(
        self, out: object, sizes: Sequence[int], what: str = "grad_fn's result"
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`read_grads`, with a wrong shape a :class:`LayoutError` too."""
        grads, bad = self.read_grads(out, sizes, what)
        if bad:
            name, (got, want) = next(iter(bad.items()))
            raise LayoutError(f"{what}'s {self.name(name)} has shape {got}, expected {want}")
        return grads

    def read_grads(
        self, out: object, sizes: Sequence[int], what: str = "grad_fn's result"
    ) -> tuple[list[tuple[np.ndarray, np.ndarray]], dict[str, tuple[tuple, tuple]]]:
        """``grad_fn``'s result as internal float pairs (zero biases without ``use_bias``),
        and ``{internal name: (its shape, the expected shape)}`` (the user's shapes) for
        the tensors of a wrong shape, which are left in a shape that cannot match; raises
        :class:`Malformed` with the reason when it is not the gradients in this layout."""
        n = len(sizes) - 1
        tensors = self._dict_tensors(out, n, what) if self.keyed else self._list(out, sizes, what)
        grads, bad = [], {}
        for i, (w, b) in enumerate(tensors):
            W = self._internal(w, f"W{i}", self.w_shape(sizes[i], sizes[i + 1]), what, bad)
            if b is None:
                B = np.zeros(sizes[i + 1], W.dtype)
            else:
                B = self._internal(b, f"b{i}", self.b_shape(sizes[i + 1]), what, bad)
            grads.append((W, B))
        return grads, bad

    def _internal(self, t: object, internal: str, shape: tuple, what: str, bad: dict):
        a = self._array(t, internal, what)
        if a.shape != shape:
            bad[internal] = (a.shape, shape)
            if internal[0] == "W":
                rows = shape[::-1] if self.out_in else shape
            else:
                rows = (int(np.prod(shape)),)
            return a if a.shape != rows else a[None]  # never the expected internal shape
        if internal[0] == "W":
            return np.array(a.T) if self.out_in else a
        return a.reshape(-1)

    def shape_text(self, internal: str, got: tuple, want: tuple) -> str:
        """The diagnosis of a tensor of a wrong shape, in the user's shapes (tensor names
        internal: the report renames them with the rest of its text)."""
        return f"wrong shape {got}, expected {want}" + self._shape_hint(internal, got, want)

    def _list(self, out: object, sizes: Sequence[int], what: str) -> list[tuple[object, object]]:
        n = len(sizes) - 1
        verb = "grad_fn returned" if what == "grad_fn's result" else f"{what} is"
        want = (
            f"a list of {n} pairs [(dW0, db0), ...]"
            if self.use_bias
            else f"a list of {n} weight gradients [dW0, ...]"
        )
        if isinstance(out, (str, bytes, np.ndarray, Mapping)) or not isinstance(out, Sequence):
            raise Malformed(f"{verb} {type(out).__name__}; expected {want}")
        if len(out) != n:
            raise Malformed(f"{verb} {len(out)} layers for sizes {tuple(sizes)}; expected {want}")
        if not self.use_bias:
            return [(w, None) for w in out]
        pairs = []
        for i, layer in enumerate(out):
            if isinstance(layer, (str, bytes, Mapping)) or not isinstance(
                layer, (Sequence, np.ndarray)
            ):
                raise Malformed(
                    f"{what}'s layer {i} is {type(layer).__name__}; expected a pair (dW{i}, db{i})"
                )
            if len(layer) != 2:
                raise Malformed(
                    f"{what}'s layer {i} has {len(layer)} entries; expected a pair (dW{i}, db{i})"
                )
            pairs.append((layer[0], layer[1]))
        return pairs

    def _dict_tensors(self, out: object, n: int, what: str) -> list[tuple[object, object]]:
        keys = "W1, b1, ..." if self.use_bias else "W1, W2, ..."
        if not isinstance(out, Mapping):
            raise Malformed(
                f"{what} is a {type(out).__name__}; expected a dict keyed {keys} (or dW1, db1, ...)"
            )
        pairs = []
        for i in range(1, n + 1):
            w = _lookup(out, f"W{i}", what)
            b = _lookup(out, f"b{i}", what) if self.use_bias else None
            pairs.append((w, b))
        return pairs

    def _array(self, t: object, internal: str, what: str) -> np.ndarray:
        name = self.name(internal)
        try:
            a = np.array(t)  # a copy: grad_fn may hand out views of its buffers
        except Exception as e:
            raise Malformed(f"{what}'s {name} is not array-like: {e}") from e
        if a.dtype.kind in "iub":
            a = a.astype(np.float64)
        if a.dtype.kind != "f":
            raise Malformed(f"{what}'s {name} has dtype {a.dtype}; expected a float array")
        return a

    def _shape_hint(self, internal: str, got: tuple[int, ...], want: tuple[int, ...]) -> str:
        where = f'layout="{self.layout}": {_LAYOUT_FACTS[self.layout][3]}'
        if self.bias_shape is not None:
            where += f', bias_shape="{self.bias_shape}"'
        if internal[0] == "W" and len(want) == 2 and tuple(got) == want[::-1]:
            dw = self.formulas(int(internal[1:]))[1]
            return f" (transposed; {where}: compute d{internal} = {dw})"
        if int(np.prod(got)) == int(np.prod(want)):
            fix = ""
            if internal[0] == "b":
                n = int(np.prod(want))
                named = [k for k, f in BIAS_SHAPES.items() if f(n) == tuple(got)]
                if named:
                    fix = f'; if your biases are {tuple(got)}, declare bias_shape="{named[0]}"'
            return f" (the same entries in another shape; {where}{fix})"
        return f" ({where})"


def _lookup(out: Mapping, key: str, what: str) -> object:
    for k in (key, "d" + key):
        if k in out:
            return out[k]
    raise Malformed(f"{what} has no {key!r} (or {'d' + key!r}); its keys: {sorted(map(str, out))}")
