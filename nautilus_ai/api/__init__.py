"""nautilus-ai api package."""
