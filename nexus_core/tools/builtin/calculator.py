"""The calculator tool: arithmetic and ``math`` functions evaluated from the syntax tree, never with ``eval``.

Models are bad at arithmetic, so they get an exact evaluator; walking the AST ourselves means only numbers,
operators and a fixed list of functions can run, and size guards stop ``9**9**9``-style expressions before
they eat the CPU or memory.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from nexus_core.tools.base import ToolFailure, tool

MAX_EXPRESSION_CHARS = 2000
MAX_RESULT_BITS = 10_000  # about 3000 decimal digits
MAX_DIGITS = MAX_RESULT_BITS * 3 // 10

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos, ast.USub: operator.neg, ast.Not: operator.not_,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_SYMBOLS = {ast.BitXor: "^ (use ** for powers)", ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<",
            ast.RShift: ">>", ast.MatMult: "@", ast.Invert: "~"}


def _whole(name: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise ToolFailure(f"{name}() needs whole numbers ≥ 0", kind="invalid_arguments")
    return value


def _refuse_if_huge(call: str, log_value: float) -> None:
    """``log_value`` is the natural log of the result, estimated (lgamma) before computing it."""
    bits = log_value / math.log(2)
    if bits > MAX_RESULT_BITS:
        raise ToolFailure(f"{call} is too large (about {bits * math.log10(2):,.0f} digits; the limit is about "
                          f"{MAX_DIGITS} digits)", kind="too_large")


def _factorial(n: Any) -> int:
    n = _whole("factorial", n)
    _refuse_if_huge(f"factorial({n})", math.lgamma(n + 1))
    return math.factorial(n)


def _comb(n: Any, k: Any) -> int:
    n, k = _whole("comb", n), _whole("comb", k)
    if k <= n:
        _refuse_if_huge(f"comb({n}, {k})", math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1))
    return math.comb(n, k)


def _perm(n: Any, k: Any = None) -> int:
    n = _whole("perm", n)
    k = n if k is None else _whole("perm", k)
    if k <= n:
        _refuse_if_huge(f"perm({n}, {k})", math.lgamma(n + 1) - math.lgamma(n - k + 1))
    return math.perm(n, k)


def _round(value: Any, ndigits: Any = None) -> Any:
    if ndigits is None:
        return round(value)
    if not isinstance(ndigits, int) or abs(ndigits) > MAX_DIGITS:
        raise ToolFailure(f"round() needs a whole number of digits between -{MAX_DIGITS} and {MAX_DIGITS}",
                          kind="invalid_arguments")
    return round(value, ndigits)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    **{name: getattr(math, name) for name in (
        "sqrt", "cbrt", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "log",
        "log10", "log2", "exp", "floor", "ceil", "trunc", "gcd", "lcm", "hypot", "degrees", "radians", "isqrt")},
    "factorial": _factorial, "comb": _comb, "perm": _perm,
    "abs": abs, "round": _round, "min": min, "max": max,
}


@tool(risk="safe", timeout_s=10.0)
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly; use it for any calculation instead of doing maths in your head.

    Args:
        expression: Python-style arithmetic, e.g. "2 * (3 + 4) ** 2", "sqrt(2) / 3", "factorial(20) // 7",
            "log(1000, 10)". Supports + - * / // % **, comparisons, parentheses, pi, e, tau and the functions
            sqrt cbrt sin cos tan asin acos atan atan2 sinh cosh tanh log log10 log2 exp floor ceil trunc
            factorial comb perm gcd lcm hypot degrees radians isqrt abs round min max (angles in radians).
    """
    text = expression.strip()
    if not text:
        raise ToolFailure("the expression is empty", kind="invalid_arguments")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ToolFailure(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters", kind="invalid_arguments")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ToolFailure(f"could not parse {text!r}: {exc.msg}", kind="invalid_arguments") from None
    except (RecursionError, MemoryError, ValueError):
        raise ToolFailure("the expression is nested too deeply", kind="invalid_arguments") from None
    try:
        result = _eval(tree.body)
    except ZeroDivisionError:
        raise ToolFailure("division by zero", kind="math_error") from None
    except OverflowError:
        raise ToolFailure("the result is too large to compute", kind="too_large") from None
    except RecursionError:
        raise ToolFailure("the expression is nested too deeply", kind="invalid_arguments") from None
    except (ValueError, TypeError) as exc:
        raise ToolFailure(f"math error: {exc}", kind="math_error") from None
    return _format(result)


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, int | float):
            raise ToolFailure(f"only numbers are allowed, not {node.value!r}", kind="invalid_arguments")
        return node.value
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise ToolFailure(f"the name {node.id!r} is not allowed; known constants: {', '.join(CONSTANTS)}",
                          kind="invalid_arguments")
    if isinstance(node, ast.BinOp):
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ToolFailure(f"the operator {_SYMBOLS.get(type(node.op), type(node.op).__name__)} is not allowed",
                              kind="invalid_arguments")
        left, right = _eval(node.left), _eval(node.right)
        _guard_binary(node.op, left, right)
        return _check(op(left, right))
    if isinstance(node, ast.UnaryOp):
        unary = _UNARY.get(type(node.op))
        if unary is None:
            raise ToolFailure(f"the operator {_SYMBOLS.get(type(node.op), type(node.op).__name__)} is not allowed",
                              kind="invalid_arguments")
        return unary(_eval(node.operand))
    if isinstance(node, ast.Compare):
        left = _eval(node.left)
        for cmp, right_node in zip(node.ops, node.comparators, strict=True):
            compare = _COMPARE.get(type(cmp))
            if compare is None:
                raise ToolFailure(f"the comparison {type(cmp).__name__} is not allowed", kind="invalid_arguments")
            right = _eval(right_node)
            if not compare(left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BoolOp):
        values = [_eval(v) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Call):
        return _call(node)
    if isinstance(node, ast.Attribute):
        raise ToolFailure(f"attribute access ('.{node.attr}') is not allowed", kind="invalid_arguments")
    raise ToolFailure(f"{type(node).__name__} expressions are not allowed; use numbers, operators and math functions",
                      kind="invalid_arguments")


def _call(node: ast.Call) -> Any:
    if not isinstance(node.func, ast.Name):
        what = f"'.{node.func.attr}'" if isinstance(node.func, ast.Attribute) else "this call"
        raise ToolFailure(f"{what} is not allowed; call math functions by name, e.g. sqrt(2)",
                          kind="invalid_arguments")
    fn = FUNCTIONS.get(node.func.id)
    if fn is None:
        raise ToolFailure(f"the function {node.func.id!r} is not allowed; allowed: {', '.join(FUNCTIONS)}",
                          kind="invalid_arguments")
    if node.keywords:
        raise ToolFailure(f"{node.func.id}() takes positional arguments only", kind="invalid_arguments")
    args = [_eval(a) for a in node.args]
    return _check(fn(*args))


def _guard_binary(op: ast.operator, left: Any, right: Any) -> None:
    """Refuse integer results that would be enormous before computing them (they take time and memory)."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return
    if isinstance(op, ast.Pow) and right > 0 and right * (abs(left).bit_length() - 1) > MAX_RESULT_BITS:
        raise ToolFailure(f"the power {_short(left)}**{_short(right)} is too large (results are limited to about "
                          f"{MAX_DIGITS} digits)", kind="too_large")
    if isinstance(op, ast.Mult) and left.bit_length() + right.bit_length() > MAX_RESULT_BITS + 1:
        raise ToolFailure(f"the product is too large (results are limited to about {MAX_DIGITS} digits)",
                          kind="too_large")


def _short(value: int) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:10]}…({len(text)} digits)"


def _check(value: Any) -> Any:
    if isinstance(value, complex):
        raise ToolFailure("the result is a complex number, which is not supported (e.g. a fractional power of a "
                          "negative number)", kind="math_error")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_RESULT_BITS:
        raise ToolFailure(f"the result is too large (limited to about {MAX_DIGITS} digits)",
                          kind="too_large")
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolFailure("the result is too large (floating-point overflow)", kind="too_large")
    return value


def _format(value: Any) -> str:
    if isinstance(value, float):
        return format(value, ".15g")
    return str(value)
