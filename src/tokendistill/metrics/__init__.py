"""Metrics that score predictions, such as the bounded arithmetic evaluator for SVAMP equations."""

from tokendistill.metrics.arithmetic import ExpressionError, evaluate, numbers

__all__ = ["ExpressionError", "evaluate", "numbers"]
