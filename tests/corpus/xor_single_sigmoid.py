"""The classic "neural network from scratch solves XOR" blog code: row-major, one sigmoid hidden
layer and a single sigmoid output unit, sizes (in, h, 1), error = predicted - expected,
sigmoid_derivative taking the activation a * (1 - a), no averaging: the gradient of
1/2 * sum over examples of (a - y)^2. Only works for exactly one hidden layer.

Correct: sigmoid output, 1/2 squared error summed over the batch.
"""

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_derivative(x):
    return x * (1 - x)


def grad_fn(params, inputs, expected_output):
    (hidden_weights, hidden_bias), (output_weights, output_bias) = params

    # Forward Propagation
    hidden_layer_activation = np.dot(inputs, hidden_weights)
    hidden_layer_activation += hidden_bias
    hidden_layer_output = sigmoid(hidden_layer_activation)

    output_layer_activation = np.dot(hidden_layer_output, output_weights)
    output_layer_activation += output_bias
    predicted_output = sigmoid(output_layer_activation)

    # Backpropagation
    error = predicted_output - expected_output
    d_predicted_output = error * sigmoid_derivative(predicted_output)

    error_hidden_layer = d_predicted_output.dot(output_weights.T)
    d_hidden_layer = error_hidden_layer * sigmoid_derivative(hidden_layer_output)

    return [
        (inputs.T.dot(d_hidden_layer), np.sum(d_hidden_layer, axis=0)),
        (hidden_layer_output.T.dot(d_predicted_output), np.sum(d_predicted_output, axis=0)),
    ]


CHECK = dict(
    activation="sigmoid",
    loss="mse",
    output_activation="sigmoid",
    reduction="sum",
    loss_scale=0.5,
    layout="rows",
    params="list",
    min_depth=2,
    max_depth=2,
    output_width=1,
)
BUGGY_TENSORS = None
DISCOVERY = {"output_activation": "sigmoid", "reduction": "sum", "loss_scale": 0.5}
