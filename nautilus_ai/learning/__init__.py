"""nautilus-ai learning package."""
