"""`anpr eval` as a user runs it, on a tiny labelled folder of synthetic scenes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from anpr_detect_training.synthetic import render_scene_with_box

REPOSITORY = Path(__file__).resolve().parents[3]


def _labelled_folder(folder: Path, scenes: list[tuple[str, str, str, int]]) -> None:
    """Scenes as (plate shown, plate labelled, country, seed)."""
    (folder / "images").mkdir(parents=True)
    lines = []
    for index, (plate, label, country, seed) in enumerate(scenes):
        image, (x1, y1, x2, y2) = render_scene_with_box(plate, seed=seed, country=country)
        (folder / "images" / f"{index}.jpg").write_bytes(image)
        lines.append(
            json.dumps({"image": f"{index}.jpg", "plate": label, "bbox": [x1, y1, x2 - x1, y2 - y1]})
        )
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")


def _anpr(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schild.cli", *args],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_eval_scores_a_labelled_folder_and_writes_a_result_with_its_baseline(tmp_path: Path) -> None:
    folder = tmp_path / "synthetic_set"
    # The third scene is labelled one character off what it shows: not an exact read.
    _labelled_folder(
        folder,
        [
            ("1ABC234", "1ABC234", "BE", 101),
            ("GB12TX", "GB-12-TX", "NL", 11),
            ("2XYZ789", "2XYZ788", "BE", 102),
        ],
    )
    out = tmp_path / "results" / "detect_eval_synthetic.json"
    result = _anpr("eval", str(folder), "--limit", "3", "--out", str(out), "--baseline", "no-reread")
    assert result.returncode == 0, result.stderr[-3000:]
    written = json.loads(out.read_text())
    assert written["benchmark"] == "detect_eval_synthetic"
    for figures in (written["metrics"], written["baseline"]):
        assert figures["images"] == 3
        assert figures["detection_recall"] == 1.0
        assert figures["exact_read_rate"] == round(2 / 3, 4)
        assert figures["character_accuracy"] == round((1 + 1 + 6 / 7) / 3, 4)
        assert 0 < figures["ms_p50"] <= figures["ms_p95"]
    assert "no-reread" in written["notes"]
    assert json.loads(result.stdout)["result"] == str(out)
    assert "images of" not in result.stderr, "no progress bar where stderr is not a terminal"


def test_eval_draws_its_progress_on_a_terminal(tmp_path: Path) -> None:
    folder = tmp_path / "tiny_set"
    _labelled_folder(folder, [("1ABC234", "1ABC234", "BE", 101)])
    # rich's own switches, for a terminal it cannot ask (the output is a pipe here).
    env = {**os.environ, "TTY_INTERACTIVE": "1", "TTY_COMPATIBLE": "1"}
    result = _anpr("eval", str(folder), "--out", str(tmp_path / "tiny.json"), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "images of tiny_set" in result.stderr and "1/1" in result.stderr


def test_eval_refuses_a_folder_without_a_manifest_and_an_unknown_baseline(tmp_path: Path) -> None:
    missing = _anpr("eval", str(tmp_path), "--out", str(tmp_path / "x.json"))
    assert missing.returncode == 2
    assert "manifest.jsonl" in missing.stderr
    unknown = _anpr("eval", str(tmp_path), "--baseline", "fastest")
    assert unknown.returncode == 2
    assert "--baseline must be one of" in unknown.stderr
    assert not (tmp_path / "x.json").exists()
