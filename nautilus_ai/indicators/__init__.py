"""nautilus-ai indicators package."""
