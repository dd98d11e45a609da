"""tokendistill: distil the input tokens a large teacher attends to into a small student."""

__version__ = "0.1.0"
