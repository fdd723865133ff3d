"""nautilus-ai risk package."""
