"""nautilus-ai adapters package."""
