"""nautilus-ai execution package."""
