"""nautilus-ai: an AI trading system built as a plugin suite for NautilusTrader."""

__version__ = "0.1.0"
