"""nautilus-ai strategies package."""
