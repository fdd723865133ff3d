"""nautilus-ai live package."""
