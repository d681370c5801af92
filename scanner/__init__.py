"""Privacy-risk scanner for child-facing apps and websites."""

__version__ = "0.1.0"
