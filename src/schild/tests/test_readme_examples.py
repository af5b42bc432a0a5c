"""Every shell example of README.md runs, as written, against the embedded platform.

The examples are taken from the README itself (its ```sh, ```bash, ```shell and ```console blocks), so a
changed example is a tested example. They run in README order, each block in its own bash, the
variables a block sets (TOKEN, KEY, ENTRY, ...) kept for the next, in a folder holding what the reader
is expected to have (`.venv`, `frame.jpg`, `clip.mp4`), against `anpr run --no-sample` on a free port
with its own ANPR_DATA_DIR (the README's `localhost:8080` is pointed at that port; any other port
stays as written, and fails). Dates are the examples' own (`date`), so they run on the day they run.
A call fails its example when it answers 4xx/5xx (curl --fail-with-body) or does not answer; a live
stream (`curl -N`) passes when it answers 200 and is still open after a few seconds.

A block that cannot run against the embedded platform is named in NOT_RUNNABLE by its first command,
with the reason; every other block runs. Nothing is skipped silently: an example of a kind this test
does not know fails.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from anpr_detect_training.synthetic import render_scene

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
SHELL_KINDS = ("sh", "bash", "shell", "console")
FENCE = re.compile(r"^```([A-Za-z]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

# Blocks that need what the embedded platform is not, by their first command, and why.
NOT_RUNNABLE = {
    "make": "builds the checkout or runs the whole suite; `make run` is the `anpr run` this test starts",
    "kafka-acls.sh": "needs a Kafka cluster with SASL users; the embedded platform has an in-process bus",
    "docker": "needs a Docker engine and the compose stack",
    "helm": "needs a Kubernetes cluster",
    "kubectl": "needs a Kubernetes cluster",
    "scripts/infra.sh": "starts or stops the suite's Kafka and PostgreSQL, shared by other work",
}

# Each block runs under this: stop at the first failing command; a call that fails is a failure.
PRELUDE = r"""set -euo pipefail
set -a
curl() {
  case " $* " in
    *" -N "*|*" -sN "*|*" -Ns "*|*" --no-buffer "*)
      command curl --fail-with-body --show-error --max-time 3 "$@" || [ $? -eq 28 ] ;;
    *) command curl --fail-with-body --show-error --max-time 60 "$@" ;;
  esac
}
"""
_SHELL_OWN = {"_", "PWD", "OLDPWD", "SHLVL", "SHELLOPTS", "BASHOPTS"}


@dataclass(frozen=True)
class Example:
    line: int
    kind: str
    text: str

    @property
    def script(self) -> str:
        if self.kind != "console":
            return self.text
        # A console block: the commands are the lines after a "$ " prompt; the rest is their output.
        return "".join(line[2:] + "\n" for line in self.text.splitlines() if line.startswith("$ "))

    @property
    def first_command(self) -> str:
        line = next(
            (ln.strip() for ln in self.script.splitlines() if ln.strip() and ln.strip()[0] != "#"), ""
        )
        # Past the assignments in front of it (NAME=value, NAME="...", NAME=$(command ...)).
        while assignment := re.match(r"[A-Za-z_][A-Za-z0-9_]*=", line):
            line = line[assignment.end() :]
            if line.startswith("$("):
                line = line[2:]
                break
            line = re.sub(r"""^("[^"]*"|'[^']*'|\S*)\s*""", "", line, count=1)
        return line.split(maxsplit=1)[0] if line else ""


@dataclass(frozen=True)
class Outcome:
    example: Example
    ran: bool
    ok: bool
    why: str

    def __str__(self) -> str:
        return f"README line {self.example.line} ({self.example.first_command or 'assignments'}): {self.why}"


def examples(markdown: str) -> list[Example]:
    found = []
    for match in FENCE.finditer(markdown):
        if match.group(1) in SHELL_KINDS:
            line = markdown.count("\n", 0, match.start()) + 1
            found.append(Example(line, match.group(1), match.group(2)))
    return found


def run_examples(markdown: str, *, port: int, cwd: Path, env: dict[str, str]) -> list[Outcome]:
    """Runs every shell example of `markdown` in order; the ones NOT_RUNNABLE names are reported, not run."""
    outcomes = []
    state = dict(env)
    exported = cwd / ".example-env"
    for example in examples(markdown):
        if example.first_command in NOT_RUNNABLE:
            outcomes.append(Outcome(example, ran=False, ok=True, why=NOT_RUNNABLE[example.first_command]))
            continue
        script = re.sub(r"\b(localhost|127\.0\.0\.1):8080\b", rf"\1:{port}", example.script)
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", f'{PRELUDE}{script}\nenv -0 > "{exported}"\n'],
            cwd=cwd,
            env=state,
            capture_output=True,
            text=True,
            timeout=120,
        )
        took = time.monotonic() - started
        if done.returncode == 0:
            for pair in exported.read_text().split("\0"):
                name, _, value = pair.partition("=")
                if name and name not in _SHELL_OWN:
                    state[name] = value
            outcomes.append(Outcome(example, ran=True, ok=True, why=f"ran in {took:.1f} s"))
        else:
            said = (done.stderr.strip() or done.stdout.strip())[-1500:]
            outcomes.append(Outcome(example, ran=True, ok=False, why=f"exit {done.returncode}: {said}"))
    return outcomes


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path, dict[str, str]]]:
    """`anpr run --no-sample` on a free port, and the reader's folder beside it."""
    folder = tmp_path_factory.mktemp("reader")
    (folder / ".venv").symlink_to(ROOT / ".venv")
    (folder / "frame.jpg").write_bytes(render_scene("1ABC234", seed=3))
    video = cv2.VideoWriter(str(folder / "clip.mp4"), cv2.VideoWriter.fourcc(*"mp4v"), 10, (320, 240))
    for n in range(20):
        picture = np.full((240, 320, 3), n * 10, dtype=np.uint8)
        cv2.putText(picture, f"1-ABC-{n:03d}", (20, 120), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
        video.write(picture)
    video.release()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANPR_", "TTY_"))}
    env["ANPR_DATA_DIR"] = str(folder / "var")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "schild.cli", "run", "--no-sample", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else "anpr run ended"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/access/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "anpr run was not ready in 120 s"
            time.sleep(0.3)
        yield port, folder, env
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_every_shell_example_of_the_readme_runs(platform: tuple[int, Path, dict[str, str]]) -> None:
    port, folder, env = platform
    outcomes = run_examples(README.read_text(), port=port, cwd=folder, env=env)

    failed = [str(o) for o in outcomes if not o.ok]
    assert not failed, "README examples that do not work as written:\n" + "\n\n".join(failed)
    ran = [o for o in outcomes if o.ran]
    assert len(ran) >= 12, [str(o) for o in outcomes]
    # What was not run is named, by its first command, with the reason.
    assert {o.example.first_command for o in outcomes if not o.ran} <= set(NOT_RUNNABLE)
    # The examples left what they say they make, and their windows (from today's date) hold data: the
    # DPO's export has the plate the examples pushed, the audit export this month's rows.
    with zipfile.ZipFile(folder / "export.zip") as export:
        given = json.loads(export.read("reads.json"))
    assert given["plate"] == "1ABC234" and given["reads"], given
    assert len((folder / "audit-month.jsonl").read_text().splitlines()) >= 10


BROKEN = """
A path that does not exist:

```sh
curl -s localhost:8080/access/v1/no-such-thing \\
     -H "Authorization: Bearer $(.venv/bin/anpr dev-token --role dpo)"
```

A standalone service's port, not the embedded platform's:

```bash
curl -s localhost:8000/v1/holds
```

A body the call needs, left out:

```sh
curl -s -X POST localhost:8080/match/v1/lists \\
     -H "Authorization: Bearer $(.venv/bin/anpr dev-token --role supervisor)"
```

A variable no example set:

```sh
curl -s "localhost:8080/access/v1/holds/$NO_SUCH_HOLD"
```

A command of a kind the test does not know, and one that is named as not runnable here:

```sh
frobnicate --all
```

```sh
helm install schild helm/schild
```

A language that is not a shell is not an example to run:

```yaml
key: value
```
"""


def test_a_broken_example_fails_and_a_not_runnable_one_is_named(
    platform: tuple[int, Path, dict[str, str]],
) -> None:
    port, folder, env = platform
    outcomes = run_examples(BROKEN, port=port, cwd=folder, env=env)

    assert [(o.example.first_command, o.ran, o.ok) for o in outcomes] == [
        ("curl", True, False),
        ("curl", True, False),
        ("curl", True, False),
        ("curl", True, False),
        ("frobnicate", True, False),
        ("helm", False, True),
    ]
    said = [o.why for o in outcomes]
    assert "404" in said[0]
    assert "Failed to connect" in said[1] or "Connection refused" in said[1]
    assert "422" in said[2]
    assert "NO_SUCH_HOLD: unbound variable" in said[3]
    assert "command not found" in said[4]
    assert said[5] == NOT_RUNNABLE["helm"]


def test_examples_are_found_by_kind_with_their_line_and_first_command() -> None:
    text = "intro\n```console\n$ X=1 anpr run --once\n{...}\n```\n```\nnot a shell\n```\n"

    (example,) = examples(text)

    assert (example.line, example.kind, example.first_command) == (2, "console", "anpr")
    assert example.script == "X=1 anpr run --once\n"
