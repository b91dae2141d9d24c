"""Where things are: the repository root and the CLI as a subprocess command."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "codeinstruct.workers.cli"]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
SAMPLES = sorted((REPO / "crds" / "samples").glob("*.yaml"))
