"""mlp_parity: one multilayer perceptron written three times — hand-written numpy backprop, JAX
and Keras 3 on TensorFlow — proven equal by Hypothesis property tests.

Importing the package imports numpy only; each framework is imported when first used.
"""

from .backends import available_backends, forward, get_backend, loss_and_grad, predict, to_keras
from .debug import check_backprop
from .gradcheck import GradientReport, check_gradients
from .params import init_params, load_params, save_params
from .spec import ACTIVATIONS, LOSSES, OUTPUT_ACTIVATIONS, REDUCTIONS, MLPSpec

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OUTPUT_ACTIVATIONS",
    "REDUCTIONS",
    "GradientReport",
    "MLPSpec",
    "check_backprop",
    "check_gradients",
    "available_backends",
    "forward",
    "get_backend",
    "init_params",
    "load_params",
    "loss_and_grad",
    "predict",
    "save_params",
    "to_keras",
]
