"""The `anpr` command behaves as a user expects: dev-token finds the platform's key from wherever it is
run (or says where it looked), a port in use is one line and exit 2, help shows the defaults, and the
progress bars draw on a terminal only."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from anpr_core.auth import DevIssuer, Role
from schild import progress as progress_module
from schild.progress import progress


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANPR_", "TTY_", "FORCE_COLOR"))}
    return {**env, **extra}


def _anpr(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schild.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_dev_token_run_from_another_folder_signs_with_the_platforms_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "platform"
    platform_key = DevIssuer(data_dir / "dev-issuer" / "key.pem")  # as the platform makes it at first start
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    minted = _anpr("dev-token", "--role", "operator", env=_env(ANPR_DATA_DIR=str(data_dir)), cwd=elsewhere)

    assert minted.returncode == 0, minted.stderr
    principal = asyncio.run(platform_key.verify(minted.stdout.strip()))
    assert principal.role is Role.OPERATOR
    assert list(elsewhere.iterdir()) == [], "nothing is made in the folder it is run from"


def test_dev_token_without_the_platforms_key_says_where_it_looked_and_makes_none(tmp_path: Path) -> None:
    data_dir = tmp_path / "never-started"

    refused = _anpr("dev-token", "--role", "operator", env=_env(ANPR_DATA_DIR=str(data_dir)), cwd=tmp_path)

    assert refused.returncode == 2
    assert refused.stdout == ""
    assert str(data_dir / "dev-issuer" / "key.pem") in refused.stderr
    assert "ANPR_DATA_DIR" in refused.stderr and "anpr run" in refused.stderr
    assert not data_dir.exists(), "a key made here would sign tokens no service accepts"


def test_dev_token_names_the_key_path_setting_when_that_is_what_points_nowhere(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "dev.pem"

    refused = _anpr("dev-token", "--role", "dpo", env=_env(ANPR_DEV_ISSUER_KEY_PATH=str(key)), cwd=tmp_path)

    assert refused.returncode == 2
    assert f"no development key at {key} (ANPR_DEV_ISSUER_KEY_PATH)" in refused.stderr


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as held:
        yield held.getsockname()[1]


def _one_line_refusal(result: subprocess.CompletedProcess[str], port: int) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in lines[0]
    return lines[0]


def test_anpr_run_on_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path, taken_port: int) -> None:
    result = _anpr("run", "--port", str(taken_port), env=_env(ANPR_DATA_DIR=str(tmp_path / "var")))

    line = _one_line_refusal(result, taken_port)
    assert line.startswith("anpr run: ") and "--port" in line
    assert not (tmp_path / "var").exists(), "the port is checked before the platform is built"


def test_anpr_serve_on_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path, taken_port: int) -> None:
    env = _env(
        ANPR_PORT=str(taken_port),
        ANPR_DATA_DIR=str(tmp_path / "var"),
        # Never reached: the port is taken before the bus or the database is touched.
        ANPR_KAFKA_BOOTSTRAP="127.0.0.1:9",
        ANPR_DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:9/none",
    )
    result = _anpr("serve", "match", env=env)

    line = _one_line_refusal(result, taken_port)
    assert line.startswith("match: ") and "ANPR_PORT" in line


def test_the_console_on_a_port_in_use_is_one_line_and_exit_2(taken_port: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "anpr_console"],
        env=_env(ANPR_PORT=str(taken_port)),
        capture_output=True,
        text=True,
        timeout=120,
    )

    line = _one_line_refusal(result, taken_port)
    assert line.startswith("console: ")


def test_a_host_that_is_not_this_machines_is_one_line_too(tmp_path: Path) -> None:
    result = _anpr("run", "--host", "192.0.2.1", "--port", "8080", env=_env(ANPR_DATA_DIR=str(tmp_path)))

    assert result.returncode == 2
    assert result.stderr.startswith("anpr run: cannot listen on 192.0.2.1:8080: ")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (("run",), ["port to listen on (default: 8080)", "address to listen on (default: 127.0.0.1)"]),
        (("dev-token",), ["(default: dev-user)", "(default: 3600)", "(default: ANPR_ZONE_ID, 5344)"]),
        (("camera", "replay"), ["(default: 2.0)", "(default: http://127.0.0.1:8080/ingest)"]),
        (("read",), ["(default: 2)"]),
    ],
)
def test_help_shows_each_options_default(command: tuple[str, ...], shown: list[str]) -> None:
    result = _anpr(*command, "--help", env=_env(ANPR_CAMERA_KEY="the-cameras-secret", COLUMNS="200"))

    assert result.returncode == 0, result.stderr
    for text in shown:
        assert text in result.stdout, result.stdout
    assert "the-cameras-secret" not in result.stdout, "a key from the environment is never printed"
    assert "(default: None)" not in result.stdout and "(default: False)" not in result.stdout


def _draw(monkeypatch: pytest.MonkeyPatch, **environ: str) -> str:
    for name in ("TTY_INTERACTIVE", "TTY_COMPATIBLE", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    drawn = io.StringIO()
    # stderr as a pipe, as under CI or `2> log`: not a terminal.
    monkeypatch.setattr(progress_module, "Console", lambda **kw: Console(**{**kw, "file": drawn}))
    with progress("frames to cam-1", 3, status="{accepted} accepted", accepted=0) as advance:
        for done in range(1, 4):
            advance(accepted=done)
    return drawn.getvalue()


def test_progress_draws_nothing_when_its_output_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _draw(monkeypatch) == ""
    assert _draw(monkeypatch, TTY_INTERACTIVE="0", TTY_COMPATIBLE="1") == ""


def test_progress_draws_its_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = _draw(monkeypatch, TTY_INTERACTIVE="1", TTY_COMPATIBLE="1")

    assert "frames to cam-1" in drawn
    assert "3/3" in drawn and "3 accepted" in drawn
