"""A corpus of hand-written backprops as people really write them (issue 14).

Each module is one user's program, in its own style and conventions: numpy only, its own
forward pass, its own names; none of it calls mlp_parity. A module exports

- ``grad_fn(params, x, y) -> grads`` in the program's own layout (``layout="rows"``: W
  (in, out), b (out,), x (batch, in); ``"columns"``: W (out, in), b (out, 1), x (in, batch));
- ``CHECK``: the keyword arguments that declare its conventions to ``check_backprop``;
- ``BUGGY_TENSORS``: the tensors its gradient gets wrong, in the report's names (dict params
  ``W1``, ``b1``, ... 1-based; list params ``W0``, ``b0``, ... 0-based), or None when right;
- ``DISCOVERY``: for a correct program whose conventions are not the defaults, the
  ``matching_convention`` a check with only activation, loss, layout, params and architecture
  declared should report (None otherwise); ``DISCOVERY_CHECK`` (optional): the conventions
  that check declares instead of the defaults where those are not valid for the loss
  (categorical_cross_entropy takes no identity output).

Architecture limits in ``CHECK`` keep a program where its wrong set is certain: fixed-depth
code gets ``min_depth = max_depth``; a batch- or output-mean that a fixed output width would
make ambiguous (mean over 2 outputs = half the sum) gets ``output_width=3``; ReLU bugs get
fixed wide layers, so that no drawn layer is dead for the whole batch.
"""

import importlib
import pkgutil
from types import ModuleType


def programs() -> list[ModuleType]:
    """Every program module of the corpus, sorted by name."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{__name__}.{name}") for name in names]
