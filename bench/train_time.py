"""Full training time (NLU and dialogue, nothing cached), as `make train` would do it.

    python -m bench.train_time [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from actions.services.yamlfiles import PROJECT_ROOT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--config", default="config.yml")
    args = parser.parse_args()
    rasa = Path(sys.executable).parent / "rasa"
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as out:
            started = time.monotonic()
            subprocess.run(
                [str(rasa), "train", "--config", args.config, "--domain", "bot/domain",
                 "--data", "nlu", "bot/data", "--out", out, "--force", "--fixed-model-name",
                 "bench"],
                cwd=PROJECT_ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            elapsed = time.monotonic() - started
            size = (Path(out) / "bench.tar.gz").stat().st_size / 1e6
        print(f"full training run {run + 1}: {elapsed:.1f} s (model {size:.1f} MB, "
              f"config {args.config})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
