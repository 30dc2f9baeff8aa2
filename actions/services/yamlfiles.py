"""Reading the project's YAML data files (content/, nlu/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTENT_DIR = PROJECT_ROOT / "content"


def load_yaml(path: Path) -> Any:
    """Parses one YAML file (safe loader: content is data, never code)."""
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)
