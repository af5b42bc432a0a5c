"""The serving package never loads the offline tools: synthetic data, training scenes, evaluation."""

from __future__ import annotations

import json
import subprocess
import sys

OFFLINE = ("anpr_detect_training", "anpr_detect_eval")


def test_the_service_imports_none_of_the_offline_tools() -> None:
    # A fresh interpreter: this test process has imported the offline tools for other tests.
    program = (
        "import json, sys\n"
        "import anpr_detect.__main__, anpr_detect.bootstrap\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert "anpr_detect.bootstrap" in loaded
    assert [name for name in loaded if name.split(".")[0] in OFFLINE] == []
