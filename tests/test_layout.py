"""The layout's promises (issue 13), checked on the source so they cannot silently erode:
facts about activations and losses live in spec/ (and, in their own ops, the two autodiff
engines); modules stay small; long functions say why; the tree shows the architecture."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mlp_parity
from mlp_parity.spec import ACTIVATIONS, LOSSES

PACKAGE = Path(mlp_parity.__file__).parent
NAMES = set(ACTIVATIONS) | set(LOSSES)
#: The only modules allowed to branch on an activation or loss name.
FACT_HOMES = {
    "spec/activations.py",
    "spec/losses.py",
    "backends/jax_autodiff.py",
    "backends/keras_tf.py",
}
MAX_MODULE_LINES = 420
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _names_in(node: ast.AST) -> set[str]:
    """Activation/loss names written as string constants in ``node`` (a tuple or set of them
    too)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value} & NAMES
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return set().union(*(_names_in(e) for e in node.elts)) if node.elts else set()
    return set()


def name_branches(source: str) -> list[tuple[int, str]]:
    """``(line, name)`` for every comparison, membership test, ``case`` or dict key that uses
    an activation or loss name: the ways code branches on one."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                found += [(node.lineno, n) for n in _names_in(operand)]
        elif isinstance(node, ast.MatchValue):
            found += [(node.lineno, n) for n in _names_in(node.value)]
        elif isinstance(node, ast.Dict):
            for key in node.keys:
                if key is not None:
                    found += [(node.lineno, n) for n in _names_in(key)]
    return found


def test_name_branch_finder_finds_the_usual_forms():
    src = (
        'if loss == "mse": pass\n'
        'if "relu" in acts: pass\n'
        'if spec.loss in ("softmax_cross_entropy", "x"): pass\n'
        'table = {"tanh": 1}\n'
        'f(activation="sigmoid")\n'  # a default or an argument is not a branch
    )
    assert [line for line, _ in name_branches(src)] == [1, 2, 3, 4]


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_no_module_branches_on_an_activation_or_loss_name(path):
    if _rel(path) in FACT_HOMES:
        return
    hits = name_branches(path.read_text())
    assert not hits, (
        f"{_rel(path)} branches on {hits}: ask spec.ACTIVATIONS / spec.LOSSES for the fact instead"
    )


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_modules_stay_small(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_MODULE_LINES, f"{_rel(path)} has {n} lines; split it by idea"


def _long_functions(source: str) -> list[tuple[str, int, str]]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES:
                out.append((node.name, n, ast.get_docstring(node) or ""))
    return out


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_long_functions_say_why(path):
    """A function over 60 lines must say why in its docstring ("Long because ...")."""
    unexplained = [
        (name, n)
        for name, n, doc in _long_functions(path.read_text())
        if not re.search(r"\blong because\b", doc, re.IGNORECASE)
    ]
    assert not unexplained, f"{_rel(path)}: {unexplained} are over {MAX_FUNCTION_LINES} lines"


def test_tree_shows_the_architecture():
    for part in (
        "spec",
        "params.py",
        "backends",
        "gradcheck.py",
        "tolerance.py",
        "debug",
        "train",
        "data",
        "cli",
        "examples",
        "strategies.py",
        "testing.py",
        "bench.py",
        "plots.py",
    ):
        assert (PACKAGE / part).exists(), part
    for package in ("spec", "backends", "debug", "train", "data", "cli"):
        assert (PACKAGE / package / "__init__.py").is_file(), package


def test_import_is_numpy_only_and_check_backprop_is_top_level():
    code = (
        "import sys, mlp_parity\n"
        "assert callable(mlp_parity.check_backprop)\n"
        "heavy = [m for m in ('jax', 'tensorflow', 'keras', 'hypothesis', 'matplotlib', 'tqdm',"
        " 'pooch') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
