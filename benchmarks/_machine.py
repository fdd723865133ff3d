"""What every benchmark prints about the machine it ran on, and its progress log."""

import os
import platform
import sys
import time
from pathlib import Path


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def log(message: str) -> None:
    """Print a timestamped progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine_info() -> dict[str, str]:
    """Return the machine and the core software versions every benchmark reports."""
    import nautilus_trader

    try:
        ram_text = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB"
    except (ValueError, OSError):
        ram_text = "?"
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu_model(),
        "ram": ram_text,
        "os": platform.platform(),
        "python": platform.python_version(),
        "nautilus_trader": nautilus_trader.__version__,
    }
