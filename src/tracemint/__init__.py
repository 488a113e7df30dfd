"""tracemint: mint verified, faithful chain-of-thought reasoning data."""

__version__ = "0.1.0"
