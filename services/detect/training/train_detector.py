"""Train the project's plate detector with ultralytics on synthetic scenes, and export it to ONNX.

Run through `make train-detector` (which builds the separate training environment with torch and
ultralytics: torch never enters the serving path). Offline by construction: the model is built
from ultralytics' own yaml (no pretrained weights), YOLO_OFFLINE=1, and the plotting font is a
local TrueType file copied into YOLO_CONFIG_DIR.

    python services/detect/training/train_detector.py --train 1500 --val 200 --imgsz 512 --epochs 10

Writes <out>/dataset, <out>/runs and, with --install, copies the ONNX model and its training
record (recipe, synthetic validation metrics, timings) into the detect package's models folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_REPOSITORY = _HERE.parents[2]
# The training environment installs neither package: the scenes are rendered from the sources.
sys.path.insert(0, str(_REPOSITORY / "libs" / "core" / "src"))
sys.path.insert(0, str(_REPOSITORY / "services" / "detect" / "src"))

MODELS_DIR = _REPOSITORY / "services" / "detect" / "src" / "anpr_detect" / "models"
MODEL_NAME = "plate_detector.onnx"
_PLOT_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# Seeds of the validation split start here, far from the training seeds: no scene is in both.
_VALIDATION_SEED_BASE = 10_000_000


def _offline_environment(out: Path) -> None:
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    config = out / "ultralytics-config"
    os.environ["YOLO_CONFIG_DIR"] = str(config)
    font_target = config / "Ultralytics" / "Arial.ttf"
    font_target.parent.mkdir(parents=True, exist_ok=True)
    if not font_target.exists() and _PLOT_FONT.is_file():
        shutil.copyfile(_PLOT_FONT, font_target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=_REPOSITORY / "var" / "detector-training")
    parser.add_argument("--train", type=int, default=1500, help="synthetic training scenes")
    parser.add_argument("--val", type=int, default=200, help="synthetic validation scenes")
    parser.add_argument("--imgsz", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--model", default="yolo11n.yaml", help="ultralytics model yaml (no weights)")
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="continue from weights an earlier run of this script wrote (runs/plate/weights/last.pt)",
    )
    parser.add_argument("--warmup-epochs", type=float, default=3.0)
    parser.add_argument("--name", default="plate", help="run name under <out>/runs")
    parser.add_argument("--device", default="cpu", help="cpu, or a CUDA device index such as 0")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--install", action="store_true", help="copy the ONNX model into the package")
    parser.add_argument(
        "--reuse-dataset", action="store_true", help="keep <out>/dataset when it holds the asked-for scenes"
    )
    args = parser.parse_args(argv)

    out: Path = args.out.resolve()
    _offline_environment(out)
    # Imported only now: YOLO_CONFIG_DIR and YOLO_OFFLINE must be set first.
    import torch
    from ultralytics import YOLO

    from anpr_detect_training.training_data import existing_dataset, seeds, write_dataset

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    splits = {"train": seeds(0, args.train), "val": seeds(_VALIDATION_SEED_BASE, args.val)}
    dataset = (existing_dataset(out / "dataset", splits) if args.reuse_dataset else None) or write_dataset(
        out / "dataset", splits, long_side=args.imgsz, processes=max(1, os.cpu_count() or 1)
    )
    generated = time.perf_counter()
    print(
        f"dataset: {dataset.images} images, {dataset.plates} plates in {generated - started:.0f} s",
        flush=True,
    )

    model = YOLO(str(args.init) if args.init else args.model)
    results = model.train(
        data=str(dataset.root / "data.yaml"),
        imgsz=args.imgsz,
        epochs=args.epochs,
        batch=args.batch,
        device=args.device,
        workers=args.workers,
        pretrained=bool(args.init),
        amp=False,
        warmup_epochs=args.warmup_epochs,
        plots=False,
        project=str(out / "runs"),
        name=args.name,
        exist_ok=True,
        seed=0,
        deterministic=False,
        close_mosaic=max(1, args.epochs // 5),
        verbose=True,
    )
    trained = time.perf_counter()
    metrics: dict[str, Any] = {k: round(float(v), 4) for k, v in getattr(results, "results_dict", {}).items()}

    best = out / "runs" / args.name / "weights" / "best.pt"
    exported = Path(
        YOLO(str(best)).export(format="onnx", imgsz=args.imgsz, dynamic=True, simplify=True, opset=17)
    )
    record: dict[str, Any] = {
        "model": MODEL_NAME,
        "architecture": args.model,
        "classes": ["plate"],
        "imgsz": args.imgsz,
        "recipe": {
            "train_scenes": args.train,
            "val_scenes": args.val,
            "epochs": args.epochs,
            "batch": args.batch,
            "device": args.device if args.device != "cpu" else f"cpu ({args.threads} threads)",
            "pretrained": False,
            "continued_from": str(args.init.name) if args.init else None,
            "warmup_epochs": args.warmup_epochs,
            "generator": (
                "anpr_detect_training.scenes.render_training_scene, seeds 0..train-1 and 10000000.. for val"
            ),
        },
        "synthetic_validation": metrics,
        "plates": dataset.plates,
        "seconds": {"dataset": round(generated - started), "training": round(trained - generated)},
        "machine": {"system": f"{platform.system()} {platform.release()}", "cpus": os.cpu_count()},
        "versions": {"torch": torch.__version__, "ultralytics": __import__("ultralytics").__version__},
    }
    if args.init:
        # A continued run keeps the record of the run(s) it started from, so the card can state the
        # whole recipe: total epochs, scenes seen and CPU/GPU time.
        record["recipe"]["earlier"] = _earlier_record()
    print(json.dumps(record, indent=2))
    if args.install:
        MODELS_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(exported, MODELS_DIR / MODEL_NAME)
        (MODELS_DIR / "plate_detector.training.json").write_text(json.dumps(record, indent=2) + "\n")
        print(
            f"installed {MODELS_DIR / MODEL_NAME} ({(MODELS_DIR / MODEL_NAME).stat().st_size / 1e6:.1f} MB)"
        )
    return 0


def _earlier_record() -> dict[str, Any] | None:
    try:
        earlier: dict[str, Any] = json.loads((MODELS_DIR / "plate_detector.training.json").read_text())
    except (OSError, ValueError):
        return None
    return {key: earlier.get(key) for key in ("recipe", "synthetic_validation", "seconds", "imgsz")}


if __name__ == "__main__":
    raise SystemExit(main())
