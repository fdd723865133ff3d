"""The operator dashboard served by the sidecar at ``/ui``: :func:`ui_router` (see ``docs/dashboard.md``)."""

from nautilus_ai.api.ui.router import ui_router

__all__ = ["ui_router"]
