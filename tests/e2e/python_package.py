"""The staged Python package (build/<preset>/python, beside the CLI binary) for the tests."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path


def package_dir(amanuensis_binary: Path) -> Path:
    return Path(amanuensis_binary).resolve().parent / "python"


def import_amanuensis(amanuensis_binary: Path):
    folder = str(package_dir(amanuensis_binary))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module("amanuensis")
