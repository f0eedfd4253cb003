"""The corpus of issue 14: hand-written backprops as people really write them (tests/corpus/).

Every correct program passes with its conventions declared; every buggy one is caught with
exactly its wrong tensors; a correct program whose conventions are not the defaults, checked
with the defaults, fails and is told the conventions it matches.
"""

from __future__ import annotations

import numpy as np
import pytest
from corpus import programs
from hypothesis import settings

from mlp_parity.debug import check_backprop

PROGRAMS = programs()
CORRECT = [p for p in PROGRAMS if p.BUGGY_TENSORS is None]
BUGGY = [p for p in PROGRAMS if p.BUGGY_TENSORS is not None]
DISCOVERABLE = [p for p in CORRECT if p.DISCOVERY]

#: The loss conventions; a check "with the defaults" leaves them out and keeps the rest
#: (activation, loss, layout, params, use_bias and the architecture).
CONVENTIONS = ("output_activation", "reduction", "loss_scale", "l2")

SEED = 0
#: Correct programs: the profile's example count (2,000 under `thorough`: no false alarm
#: there either), at least 30.
N_CORRECT = max(30, settings.default.max_examples)
N_BUGGY = 100


def _name(program) -> str:
    return program.__name__.rsplit(".", 1)[-1]


def _ids(programs_) -> list[str]:
    return [_name(p) for p in programs_]


def _same_convention(found: dict | None, expected: dict) -> bool:
    """``found == expected``, with estimated floats (an L2 lambda) compared to 1e-6."""
    if found is None or set(found) != set(expected):
        return False
    for key, want in expected.items():
        got = found[key]
        if isinstance(want, float) and not isinstance(got, str):
            if not np.isclose(float(got), want, rtol=1e-6, atol=0):
                return False
        elif got != want:
            return False
    return True


def test_the_corpus_is_complete():
    assert len(CORRECT) >= 12 and len(BUGGY) >= 8
    for program in PROGRAMS:
        assert callable(program.grad_fn), _name(program)
        assert {"activation", "loss", "layout", "params"} <= set(program.CHECK), _name(program)
        assert program.BUGGY_TENSORS is None or (
            isinstance(program.BUGGY_TENSORS, frozenset) and program.BUGGY_TENSORS
        ), _name(program)
        if program.BUGGY_TENSORS is not None:
            assert program.DISCOVERY is None, _name(program)
        else:  # a program's DISCOVERY is exactly its declared non-default conventions
            declared = {k: program.CHECK[k] for k in CONVENTIONS if k in program.CHECK}
            defaults = {"output_activation": "identity", "reduction": "mean"}
            defaults |= {"loss_scale": 1.0, "l2": 0.0}
            non_default = {k: v for k, v in declared.items() if v != defaults[k]}
            assert non_default == (program.DISCOVERY or {}), _name(program)


@pytest.mark.parametrize("program", CORRECT, ids=_ids(CORRECT))
def test_correct_program_passes_with_its_conventions(program):
    report = check_backprop(program.grad_fn, **program.CHECK, max_examples=N_CORRECT, seed=SEED)
    assert report.ok, str(report)
    assert report.wrong == frozenset()


@pytest.mark.parametrize("program", BUGGY, ids=_ids(BUGGY))
def test_buggy_program_is_caught_with_exactly_its_wrong_tensors(program):
    report = check_backprop(program.grad_fn, **program.CHECK, max_examples=N_BUGGY, seed=SEED)
    assert not report.ok, f"{_name(program)} not caught"
    assert report.wrong == program.BUGGY_TENSORS, str(report)


@pytest.mark.parametrize("program", DISCOVERABLE, ids=_ids(DISCOVERABLE))
def test_discovery_names_the_conventions_of_a_correct_program(program):
    check = {k: v for k, v in program.CHECK.items() if k not in CONVENTIONS}
    check |= getattr(program, "DISCOVERY_CHECK", {})  # where the defaults are not valid
    report = check_backprop(program.grad_fn, **check, max_examples=N_BUGGY, seed=SEED)
    assert not report.ok  # right for other conventions than those declared: still not ok
    assert _same_convention(report.matching_convention, program.DISCOVERY), (
        f"matching_convention {report.matching_convention!r}, expected {program.DISCOVERY!r}"
        f"\n{report}"
    )
