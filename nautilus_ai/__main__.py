"""Allow ``python -m nautilus_ai``: the same as the ``nautilus-ai`` command."""

from nautilus_ai.cli import app

if __name__ == "__main__":
    app(prog_name="nautilus-ai")
