"""Data stage: examples, tasks, loaders for the four benchmarks, user data and synthetic tasks."""

from tokendistill.data.example import Example, Segment, own, template

__all__ = ["Example", "Segment", "own", "template"]
