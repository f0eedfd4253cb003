"""The figures the tutorial published (its printed output, every digit it printed).

The numpy half printed its log every 20 rounds (rounds 1, 21, 41, 61, 81): the round's train
loss and accuracy (means over the round's 128 examples, measured during training) and the
evaluation loss and accuracy (means over 128 validation digits after the round). The Keras half
printed its final epoch's ``history`` values. Accuracies are fractions, losses the tutorial's
own (numpy: binary cross-entropy averaged over the 10 outputs; Keras: categorical
cross-entropy).
"""

from __future__ import annotations

NUMPY: dict[str, list[float] | list[int]] = {
    "rounds": [1, 21, 41, 61, 81],
    "train_loss": [
        0.6653396808499623,
        0.19973987916048816,
        0.22871512509328423,
        0.19667771475334908,
        0.15344083263732497,
    ],
    "train_accuracy": [0.2578125, 0.625, 0.5, 0.640625, 0.734375],  # k / 128
    "eval_loss": [
        0.3501679652414703,
        0.18696834242668794,
        0.1940332827654176,
        0.19611733552310112,
        0.17753567274278328,
    ],
    "eval_accuracy": [0.5, 0.6640625, 0.6484375, 0.6328125, 0.6796875],
}

KERAS: dict[str, float] = {
    "train_accuracy": 0.9005818181211298,
    "train_loss": 0.37407184601263566,
    "val_accuracy": 0.864800000667572,
    "val_loss": 0.47731109623908996,
}

#: The tutorial's data: TensorFlow's reader kept 55,000 training digits (after the first 5,000,
#: which validate); the Keras half used every 4th of each.
N_TRAIN, N_VALIDATION = 55_000, 5_000
KERAS_N_TRAIN, KERAS_N_VALIDATION = 13_750, 1_250
