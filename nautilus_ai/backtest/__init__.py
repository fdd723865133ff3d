"""nautilus-ai backtest package."""
