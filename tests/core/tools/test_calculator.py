"""calculator: exact AST evaluation, the schema it shows, and clear refusals for anything but arithmetic."""

from __future__ import annotations

import time

import pytest

from nexus_core.tools import ToolFailure
from nexus_core.tools.builtin.calculator import calculator
from tests.core.tools.helpers import call


def calc(expression: str) -> str:
    return call(calculator, {"expression": expression})


@pytest.mark.parametrize(("expression", "expected"), [
    ("2 * (3 + 4) ** 2", "98"),
    ("7 / 2", "3.5"),
    ("7 // 2", "3"),
    ("-7 % 3", "2"),
    ("2 ** -1", "0.5"),
    ("-(3 - 5)", "2"),
    ("0.1 + 0.2", "0.3"),
    ("sqrt(16)", "4"),
    ("sqrt(2)", "1.4142135623731"),
    ("factorial(20)", "2432902008176640000"),
    ("gcd(12, 18)", "6"),
    ("log(1000, 10)", "3"),
    ("log10(0.001)", "-3"),
    ("exp(0)", "1"),
    ("floor(-2.5)", "-3"),
    ("ceil(2.1)", "3"),
    ("round(pi, 3)", "3.142"),
    ("round(1234, -2)", "1200"),
    ("sin(pi / 2) + cos(0) + tan(0)", "2"),
    ("tau / 2 - pi", "0"),
    ("e", "2.71828182845905"),
    ("abs(-4) + min(3, 1, 2) + max(3, 9)", "14"),
    ("1 < 2 <= 2 != 3", "True"),
    ("2 > 3", "False"),
    ("2 ** 100", "1267650600228229401496703205376"),
    ("comb(1000000, 3)", "166666166667000000"),
])
def test_evaluates_arithmetic_exactly(expression: str, expected: str) -> None:
    assert calc(expression) == expected


def test_schema_is_a_single_required_string() -> None:
    params = calculator.parameters
    assert params["required"] == ["expression"]
    assert params["properties"]["expression"]["type"] == "string"
    assert "sqrt" in params["properties"]["expression"]["description"]
    assert calculator.risk == "safe" and not calculator.wants_context


@pytest.mark.parametrize(("expression", "says"), [
    ("__import__('os')", "'__import__' is not allowed"),
    ("(1).__class__", "attribute access ('.__class__')"),
    ("().__class__.__bases__[0].__subclasses__()", "not allowed"),
    ("open('/etc/passwd')", "'open' is not allowed"),
    ("x + 1", "the name 'x' is not allowed"),
    ("'a' * 3", "only numbers"),
    ("lambda: 1", "Lambda expressions are not allowed"),
    ("[1, 2]", "List expressions are not allowed"),
    ("2 ^ 3", "use ** for powers"),
    ("math.sqrt(4)", "'.sqrt'"),
    ("sqrt(x=4)", "positional"),
])
def test_refuses_anything_but_arithmetic(expression: str, says: str) -> None:
    with pytest.raises(ToolFailure) as info:
        calc(expression)
    assert says in str(info.value)


@pytest.mark.parametrize(("expression", "says"), [
    ("1 / 0", "division by zero"),
    ("5 // 0", "division by zero"),
    ("5 % 0", "division by zero"),
    ("0 ** -1", "division by zero"),
    ("sqrt(-1)", "math domain error"),
    ("(-8) ** (1 / 3)", "complex"),
    ("2 +", "could not parse"),
    ("max()", "at least 1 argument"),
    ("factorial(-3)", "whole numbers"),
    ("round(5, -10**8)", "whole number of digits"),
])
def test_math_errors_are_tool_failures(expression: str, says: str) -> None:
    with pytest.raises(ToolFailure) as info:
        calc(expression)
    assert says in str(info.value)


@pytest.mark.parametrize("expression", [
    "9**9**9", "2**2**2**2**2", "10**10000", "factorial(10**6)", "comb(10**6, 5 * 10**5)", "perm(10**5)",
    "10.0 ** 400", "1e308 * 10", "(10**3000) * (10**3000)", "exp(1000)",
])
def test_huge_results_fail_fast_with_a_clear_message(expression: str) -> None:
    started = time.monotonic()
    with pytest.raises(ToolFailure) as info:
        calc(expression)
    assert time.monotonic() - started < 1.0
    assert "too large" in str(info.value)
    assert info.value.kind == "too_large"


def test_a_long_or_deep_expression_is_refused() -> None:
    with pytest.raises(ToolFailure, match="longer than"):
        calc("1+" * 2000 + "1")
    with pytest.raises(ToolFailure):
        calc("-" * 1500 + "1")


def test_missing_or_mistyped_arguments_fail_validation() -> None:
    with pytest.raises(ToolFailure) as info:
        call(calculator, {})
    assert info.value.kind == "invalid_arguments" and "expression" in str(info.value)
    with pytest.raises(ToolFailure):
        call(calculator, {"expression": "1", "extra": 2})
