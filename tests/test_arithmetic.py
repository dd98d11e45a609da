"""The SVAMP equation evaluator: hand-worked values, a random-expression oracle and hostile inputs."""

from __future__ import annotations

import operator
import random

import pytest

from tokendistill.metrics.arithmetic import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NUMBER_LENGTH,
    ExpressionError,
    evaluate,
    numbers,
)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("( 76.0 - 25.0 )", 51.0),
        ("( ( 17.0 + 15.0 ) + 2.0 )", 34.0),
        ("( 10.0 - ( 6.0 + 3.0 ) )", 1.0),
        ("( 84.0 / 2.0 )", 42.0),
        ("2 + 3 * 4", 14.0),  # * binds tighter than +
        ("(2 + 3) * 4", 20.0),
        ("8 - 3 - 2", 3.0),  # left-associative
        ("8 / 4 / 2", 1.0),
        ("-3 * -2", 6.0),
        ("--3", 3.0),
        ("-(2 + 3)", -5.0),
        ("3 - -2", 5.0),
        (".5 + 1.", 1.5),
        ("7 / 2", 3.5),
        ("  42  ", 42.0),
    ],
)
def test_hand_worked_values(expression: str, value: float) -> None:
    assert evaluate(expression) == value


OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def test_random_expressions_match_python_arithmetic() -> None:
    """Build random expression trees, compute each value from the tree, render it as text, parse it back."""
    rng = random.Random(0)

    def tree(depth: int) -> tuple[str, float]:
        if depth == 0 or rng.random() < 0.3:
            number = rng.choice([rng.randint(0, 999), round(rng.uniform(0, 100), 2)])
            return str(number), float(number)
        left_text, left = tree(depth - 1)
        right_text, right = tree(depth - 1)
        symbol = rng.choice("+-*" if right == 0 else "+-*/")
        return f"( {left_text} {symbol} {right_text} )", OPERATORS[symbol](left, right)

    for _ in range(300):
        text, value = tree(rng.randint(1, 5))
        assert evaluate(text) == pytest.approx(value, rel=1e-12, abs=1e-12), text


def test_numbers_lists_the_literals_in_order() -> None:
    assert numbers("( ( 17.0 + 15.0 ) + 2.0 )") == [17.0, 15.0, 2.0]
    assert numbers("-3 * (4 - .5)") == [3.0, 4.0, 0.5]


@pytest.mark.parametrize(
    "hostile",
    [
        "__import__('os').system('true')",
        "1e309",
        "1e3",
        "2**1000000",
        "2 ** 3",
        "9" * 10_000,
        "1/0",
        "5 / (3 - 3)",
        "(" * 10_000 + "1" + ")" * 10_000,
        "(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1),
        "1" * (MAX_NUMBER_LENGTH + 1),
        "1 + " * 200 + "1",  # longer than MAX_LENGTH
        "*".join(["9" * 30] * 16),  # 10^480 overflows a float
        "",
        "   ",
        "()",
        "(1 + 2",
        "1 + 2)",
        "1 2",
        "1 +",
        "x",
        "(2 * x)",
        "(53 + 17) and (14 - 10)",  # Python's eval would return 4 here
        "(175, 5)",
        "1,000",
        "٣ + 1",  # Arabic-Indic digit: float() would accept it
        "1_000",
        "0x10",
        "nan",
        "inf",
    ],
)
def test_hostile_inputs_raise_expression_error(hostile: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(hostile)


def test_limits_are_inclusive() -> None:
    assert evaluate("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH) == 1.0
    assert evaluate("1" * MAX_NUMBER_LENGTH) == float("1" * MAX_NUMBER_LENGTH)
    padded = "1" + " " * (MAX_LENGTH - 3) + "+1"
    assert len(padded) == MAX_LENGTH and evaluate(padded) == 2.0


def test_expression_error_is_a_value_error() -> None:
    assert issubclass(ExpressionError, ValueError)
