"""modecover: find the modes a generative model misses, correct training for them,
sample evenly from what it learned, and measure diversity against quality exactly."""

__version__ = "0.1.0"
