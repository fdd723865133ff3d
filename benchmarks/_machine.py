"""What every benchmark prints about the machine it ran on, and its progress log."""

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
