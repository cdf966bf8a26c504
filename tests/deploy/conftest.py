"""The deploy checks import the small kustomize renderer beside them."""

from __future__ import annotations

import sys
from pathlib import Path

# --import-mode=importlib does not put test directories on sys.path.
sys.path.insert(0, str(Path(__file__).parent))
