"""The `anpr` command: run the platform, mint development tokens, read plates from images."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
# Mirrors anpr_core.auth.Role; kept literal so `anpr --help` does not import the whole platform.
ROLES = ["operator", "investigator", "supervisor", "dpo", "auditor", "admin"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anpr", description="Schild: lawful ANPR for Belgian police zones.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="run every service in one process (embedded: in-process bus, SQLite)"
    )
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8080)
    run.add_argument("--data-dir", type=Path, default=None, help="where SQLite files live (default ./var)")
    run.add_argument("--once", action="store_true", help="replay the sample, print a JSON summary, exit")
    run.add_argument("--no-sample", action="store_true", help="do not replay the sample camera")

    token = commands.add_parser("dev-token", help="mint a development bearer token (never in production)")
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--subject", default="dev-user")
    token.add_argument("--zone", default=None)
    token.add_argument("--ttl", type=int, default=3600, help="seconds")

    read = commands.add_parser("read", help="read the plates in images; one JSON line per image")
    read.add_argument("paths", nargs="+", type=Path, metavar="IMAGE|DIR")
    read.add_argument("--json", action="store_true", help="JSON lines (the default and only format)")
    read.add_argument("--threads", type=int, default=2)

    serve = commands.add_parser("serve", help="run one service on Kafka and PostgreSQL")
    serve.add_argument("service", choices=["ingest", "detect", "match", "audit", "access"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "dev-token":
        return _dev_token(args)
    if args.command == "read":
        return _read(args.paths, args.threads)
    return _serve(args.service)


def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from anpr_core.jsonlog import configure_logging
    from anpr_core.settings import CoreSettings
    from schild.embedded import build_platform

    try:
        settings = CoreSettings()
        platform = build_platform(args.data_dir)
    except (ValidationError, ValueError) as error:
        sys.stderr.write(f"anpr run: {error}\n")
        return 2
    configure_logging(settings.log_level)
    if args.once:
        return asyncio.run(_run_once(platform))
    return asyncio.run(_serve_embedded(platform, args.host, args.port, sample=not args.no_sample))


async def _run_once(platform: object) -> int:
    from schild.embedded import EmbeddedPlatform, running
    from schild.sample import replay_sample

    assert isinstance(platform, EmbeddedPlatform)  # noqa: S101 - narrows for mypy
    async with running(platform):
        summary = await replay_sample(platform, sys.stdout)
    sys.stdout.write(summary.to_json() + "\n")
    return 0 if summary.accepted == summary.frames else 1


async def _serve_embedded(platform: object, host: str, port: int, *, sample: bool) -> int:
    import uvicorn

    from schild.embedded import EmbeddedPlatform
    from schild.sample import replay_sample

    assert isinstance(platform, EmbeddedPlatform)  # noqa: S101 - narrows for mypy
    config = uvicorn.Config(platform.app, host=host, port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn exposes no start event
        await asyncio.sleep(0.05)
    if serving.done():
        return 1
    sys.stdout.write(
        f"Schild is running on http://{host}:{port} (embedded: in-process bus, SQLite)\n"
        f"  OpenAPI: http://{host}:{port}/<service>/docs for ingest, detect, match, audit, access\n"
        "  a token: anpr dev-token --role investigator\n"
    )
    sys.stdout.flush()
    if sample:
        summary = await replay_sample(platform, sys.stdout)
        sys.stdout.write(f"sample done: {summary.to_json()}\n")
        sys.stdout.flush()
    await serving
    return 0


def _dev_token(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from anpr_core.auth import DevIssuer, Role
    from anpr_core.settings import CoreSettings, Environment

    try:
        settings = CoreSettings()
    except ValidationError as error:
        sys.stderr.write(f"anpr dev-token: {error}\n")
        return 2
    if settings.env is Environment.PRODUCTION:
        sys.stderr.write("anpr dev-token: refused in production\n")
        return 2
    issuer = DevIssuer(settings.resolved_dev_key_path(), settings.oidc_audience)
    sys.stdout.write(
        issuer.issue(args.subject, Role(args.role), args.zone or settings.zone_id, args.ttl) + "\n"
    )
    return 0


def _images(paths: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(path)
    return found


def _read(paths: Sequence[Path], threads: int) -> int:
    from anpr_detect.adapters.ocr import RapidOcrPlateReader, decode_image

    reader = RapidOcrPlateReader(threads=threads)
    failures = 0
    for path in _images(paths):
        try:
            image = decode_image(path.read_bytes())
        except (OSError, ValueError) as error:
            sys.stderr.write(f"anpr read: {path}: {error}\n")
            failures += 1
            continue
        started = time.perf_counter()
        plates = reader.read(image)
        elapsed_ms = (time.perf_counter() - started) * 1000
        line = {
            "image": str(path),
            "plates": [
                {
                    "text": p.text,
                    "formatted": p.formatted,
                    "country": p.country,
                    "confidence": round(p.confidence, 4),
                    "bbox": list(p.bbox),
                }
                for p in plates
            ],
            "ms": round(elapsed_ms, 1),
        }
        sys.stdout.write(json.dumps(line) + "\n")
    return 1 if failures else 0


def _serve(service: str) -> int:
    import runpy

    runpy.run_module(f"anpr_{service}", run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
