"""Generates the Python event classes (and mypy stubs) from proto/anpr/v1/*.proto.

`make proto` writes them into libs/core/src; the freshness test generates into a
temporary folder and compares, so stale committed code fails CI.
"""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
DEFAULT_OUT = PROTO_ROOT.parent / "libs" / "core" / "src"


def proto_files() -> list[Path]:
    return sorted((PROTO_ROOT / "anpr" / "v1").glob("*.proto"))


def _plugin(name: str) -> str:
    # The plugin sits beside the interpreter in the venv, which need not be on PATH.
    candidate = Path(sys.executable).with_name(name)
    found = candidate if candidate.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install the dev dependencies (make venv)")
    return str(found)


def generate(out_dir: Path) -> list[Path]:
    """Runs protoc for every schema; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--mypy_out={out_dir}",
        *[str(path.relative_to(PROTO_ROOT)) for path in proto_files()],
    ]
    status = protoc.main(args)
    if status != 0:
        raise RuntimeError(f"protoc failed with status {status}")
    return sorted((out_dir / "anpr" / "v1").glob("*_pb2.py*"))


def main() -> int:
    written = generate(DEFAULT_OUT)
    for path in written:
        sys.stdout.write(f"{path.relative_to(PROTO_ROOT.parent)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
