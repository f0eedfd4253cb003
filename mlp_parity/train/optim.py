"""The optimizer every training loop runs: mini-batch SGD with classical momentum."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._common import real


@dataclass(frozen=True)
class SGD:
    """SGD with classical momentum: per step, ``v <- momentum * v - learning_rate * g`` then
    ``p <- p + v``, velocities starting at zero (Keras 3's ``SGD(momentum=...)`` exactly).

    Args:
        learning_rate: finite and > 0.
        momentum: in ``[0, 1)``; 0 (the default) is plain SGD.

    Both are stored as plain Python floats; bad values raise ``TypeError``/``ValueError``
    naming the argument. Frozen and hashable, so compiled loops can be cached on it.
    """

    learning_rate: float
    momentum: float = 0.0

    def __post_init__(self) -> None:
        lr = real("learning_rate", self.learning_rate)
        if lr <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        mom = real("momentum", self.momentum)
        if not 0 <= mom < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum}")
        object.__setattr__(self, "learning_rate", lr)
        object.__setattr__(self, "momentum", mom)

    def update(self, p: Any, v: Any, g: Any) -> tuple[Any, Any]:
        """One step on one tensor (numpy or JAX arrays): ``(p + v', v')`` with
        ``v' = momentum * v - learning_rate * g``."""
        v = self.momentum * v - self.learning_rate * g
        return p + v, v
