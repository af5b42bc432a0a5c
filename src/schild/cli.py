"""The `anpr` command: run the platform, mint development tokens, read plates from images."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anpr_detect.adapters.readers import ReaderKind

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
# anpr_detect.adapters.readers.READER_KINDS and DEFAULT_READER_KIND, repeated here so that
# `anpr --help` does not load ONNX Runtime; a test keeps them equal.
READER_CHOICES = ("detector", "detector+text", "text")
DEFAULT_READER = "text"
READER_HELP = (
    "detector: the project's plate detector, then PP-OCR on each plate; text: PP-OCR text detection "
    "over the whole frame; detector+text: the detector, and the text reader where it finds nothing"
)
# Mirrors anpr_ingest.domain.vendors.Vendor (and schild.camera_emulate.VENDORS), literal for the same reason.
_VENDORS = ("hikvision", "dahua", "axis", "vaxtor", "genetec", "tattile")
# Mirrors anpr_core.auth.Role; kept literal so `anpr --help` does not import the whole platform.
ROLES = ["operator", "investigator", "supervisor", "dpo", "auditor", "admin"]


class _DefaultsShown(argparse.HelpFormatter):
    """Help that says each option's default, unless there is none (None, off) or the help says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            action.default not in (None, False, argparse.SUPPRESS)
            and "default" not in text
            and (action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE))
        ):
            return f"{text} (default: %(default)s)"
        return action.help


class _Parser(argparse.ArgumentParser):
    """Every parser of `anpr`, subcommands included (they are made with the parser's own class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsShown)
        super().__init__(*args, **kwargs)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="anpr", description="Schild: lawful ANPR for Belgian police zones.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="run every service in one process (embedded: in-process bus, SQLite)"
    )
    run.add_argument("--host", default="127.0.0.1", help="address to listen on")
    run.add_argument("--port", type=int, default=8080, help="port to listen on")
    run.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where SQLite files and the development keys live (default: ANPR_DATA_DIR, else the "
        "checkout's var/ wherever it is run from, or ~/.local/state/schild when installed)",
    )
    run.add_argument("--once", action="store_true", help="replay the sample, print a JSON summary, exit")
    run.add_argument("--no-sample", action="store_true", help="do not replay the sample camera")

    token = commands.add_parser("dev-token", help="mint a development bearer token (never in production)")
    token.add_argument("--role", required=True, choices=ROLES, help="the role the token carries")
    token.add_argument("--subject", default="dev-user", help="the user the token names")
    token.add_argument("--zone", default=None, help="the zone the token is for (default: ANPR_ZONE_ID, 5344)")
    token.add_argument("--ttl", type=int, default=3600, help="seconds the token is valid")

    read = commands.add_parser("read", help="read the plates in images; one JSON line per image")
    read.add_argument("paths", nargs="+", type=Path, metavar="IMAGE|DIR")
    read.add_argument("--json", action="store_true", help="JSON lines (the default and only format)")
    read.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads")
    read.add_argument("--reader", default=DEFAULT_READER, choices=READER_CHOICES, help=READER_HELP)

    evaluate = commands.add_parser(
        "eval", help="score the reader on a labelled folder (images/ + manifest.jsonl); writes a JSON result"
    )
    evaluate.add_argument("folder", type=Path, metavar="DIR")
    evaluate.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads")
    evaluate.add_argument("--reader", default=DEFAULT_READER, choices=READER_CHOICES, help=READER_HELP)
    evaluate.add_argument("--limit", type=int, default=None, help="only the first N images")
    evaluate.add_argument(
        "--out", type=Path, default=None, help="result file (default bench/results/detect_eval_<DIR>.json)"
    )
    evaluate.add_argument(
        "--baseline",
        default="no-reread",
        help=(
            "reader measured alongside: a reader kind, a text-reader configuration (grammar: the "
            "reader before the national formats), or a public detector where installed (platedet)"
        ),
    )

    audit = commands.add_parser("audit", help="the audit log, for the COC and auditors")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_verify = audit_commands.add_parser(
        "verify",
        help=(
            "verify a JSON-lines export (GET /audit/v1/export) offline, against the anchors kept outside "
            "the database; exit 0 when valid, 1 when not (the first broken row is named), 2 on bad input"
        ),
    )
    audit_verify.add_argument("file", type=Path, metavar="EXPORT")
    audit_verify.add_argument(
        "--public-key", type=Path, default=None, help="the key published at /v1/public-key (PEM), to pin"
    )
    audit_verify.add_argument(
        "--anchors",
        type=Path,
        default=None,
        metavar="FILE",
        help="the auditor's anchor file (ANPR_AUDIT_ANCHOR_FILE), or the records of anpr.audit.anchors.v1, "
        "one JSON line each: rows they cover must match, rows they show must be in the export",
    )
    audit_verify.add_argument(
        "--offline",
        action="store_true",
        help="the COC's check: the export, the anchors and the public key alone (required with it); "
        "no database, no network",
    )

    camera = commands.add_parser("camera", help="act as a camera towards ingest")
    camera_commands = camera.add_subparsers(dest="camera_command", required=True)
    replay = camera_commands.add_parser(
        "replay", help="push a video, an RTSP stream or a folder of images as frames; prints a JSON report"
    )
    replay.add_argument("source", metavar="FILE|DIR|rtsp://URL")
    replay.add_argument("--camera", required=True, help="the registered camera id")
    replay.add_argument("--key", default=None, help="the camera's key (default: $ANPR_CAMERA_KEY)")
    replay.add_argument("--url", default="http://127.0.0.1:8080/ingest", help="ingest's base URL")
    replay.add_argument("--fps", type=float, default=2.0, help="frames per second sampled and sent (0: all)")
    replay.add_argument("--limit", type=int, default=None, help="stop after this many frames")
    emulate = camera_commands.add_parser(
        "emulate", help="push plates as a vendor camera would (its own format); prints a JSON report"
    )
    emulate.add_argument("plates", nargs="+", metavar="PLATE")
    emulate.add_argument("--vendor", required=True, choices=_VENDORS)
    emulate.add_argument("--camera", required=True, help="the camera id, registered smart with that vendor")
    emulate.add_argument("--key", default=None, help="the camera's key (default: $ANPR_CAMERA_KEY)")
    emulate.add_argument("--url", default="http://127.0.0.1:8080/ingest", help="ingest's base URL")

    serve = commands.add_parser("serve", help="run one service on Kafka and PostgreSQL")
    serve.add_argument(
        "service", choices=["ingest", "detect", "match", "audit", "access", "console", "share"]
    )

    migrate = commands.add_parser(
        "migrate",
        help="bring a service's PostgreSQL schema (or all) to this release, as the owner role "
        "(ANPR_DATABASE_OWNER_URL; ANPR_DATABASE_URL is the runtime role given its rights); before serving",
    )
    migrate.add_argument("service", choices=["ingest", "match", "audit", "access", "share", "all"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "dev-token":
        return _dev_token(args)
    if args.command == "read":
        return _read(args.paths, args.threads, args.reader)
    if args.command == "eval":
        return _eval(args)
    if args.command == "audit":
        return _audit_verify(args.file, args.public_key, args.anchors, offline=args.offline)
    if args.command == "camera":
        return _camera_emulate(args) if args.camera_command == "emulate" else _camera_replay(args)
    if args.command == "migrate":
        from schild.migrate import main as migrate

        return migrate(args.service)
    return _serve(args.service)


def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from anpr_core.jsonlog import configure_logging
    from anpr_core.settings import CoreSettings
    from anpr_core.standalone import PortUnavailable, event_loop_factory, listening_socket
    from schild.embedded import build_platform

    try:
        # The port first: one taken is said at once, before the platform is built.
        sock = None if args.once else listening_socket(args.host, args.port)
    except PortUnavailable as error:
        hint = " (another `anpr run`? choose another with --port)" if error.in_use else ""
        sys.stderr.write(f"anpr run: {error}{hint}\n")
        return 2
    try:
        settings = CoreSettings()
        platform = build_platform(args.data_dir)
    except (ValidationError, ValueError) as error:
        sys.stderr.write(f"anpr run: {error}\n")
        return 2
    configure_logging(settings.log_level)
    if sock is None:
        return asyncio.run(_run_once(platform))
    # The same event loop (uvloop when installed) as the standalone services; see anpr_core.standalone.
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(_serve_embedded(platform, sock, args.host, args.port, sample=not args.no_sample))


async def _run_once(platform: object) -> int:
    from schild.embedded import EmbeddedPlatform, running
    from schild.sample import replay_sample

    assert isinstance(platform, EmbeddedPlatform)  # noqa: S101 - narrows for mypy
    async with running(platform):
        summary = await replay_sample(platform, sys.stdout)
    sys.stdout.write(summary.to_json() + "\n")
    return 0 if summary.accepted == summary.frames else 1


async def _serve_embedded(
    platform: object, sock: socket.socket, host: str, port: int, *, sample: bool
) -> int:
    import uvicorn

    from anpr_core.standalone import http_protocol
    from schild.embedded import EmbeddedPlatform
    from schild.sample import replay_sample

    assert isinstance(platform, EmbeddedPlatform)  # noqa: S101 - narrows for mypy
    config = uvicorn.Config(
        platform.app, host=host, port=port, http=http_protocol(), log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn exposes no start event
        await asyncio.sleep(0.05)
    if serving.done():
        return 1
    sys.stdout.write(
        f"Schild is running on http://{host}:{port} (embedded: in-process bus, SQLite)\n"
        f"  OpenAPI: http://{host}:{port}/<service>/docs for ingest, detect, match, audit, access, share\n"
        "  a token: anpr dev-token --role investigator\n"
        f"  neighbour zone 5388 beside it: http://{host}:{port}/partner/5388/<share|match|access>/docs "
        "(anpr dev-token --zone 5388)\n"
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
    key = settings.resolved_dev_key_path().absolute()
    if not key.is_file():
        # A key made here would sign tokens no service accepts (401 "Signature verification failed").
        if settings.dev_issuer_key_path is not None:
            where = "ANPR_DEV_ISSUER_KEY_PATH"
        elif "ANPR_DATA_DIR" in os.environ:
            where = "under ANPR_DATA_DIR"
        else:
            where = "under the default data directory; ANPR_DATA_DIR and ANPR_DEV_ISSUER_KEY_PATH are unset"
        sys.stderr.write(
            f"anpr dev-token: no development key at {key} ({where}). The platform makes it when it "
            "first starts in development: start it (`anpr run`), or set ANPR_DATA_DIR (or "
            "ANPR_DEV_ISSUER_KEY_PATH) to the platform's\n"
        )
        return 2
    issuer = DevIssuer(key, settings.oidc_audience)
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


def _read(paths: Sequence[Path], threads: int, kind: str) -> int:
    from anpr_detect.adapters.images import decode_image
    from anpr_detect.adapters.readers import build_reader

    reader = build_reader(_reader_kind(kind), threads)
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
                    # The evidence: the recogniser's probability per character, the best readings,
                    # another country whose format fits, the format read.
                    "character_probabilities": [round(x, 4) for x in p.text_probabilities],
                    "readings": [dataclasses.asdict(r) for r in p.readings],
                    "country_runner_up": p.country_runner_up,
                    "plate_format": p.format_name,
                }
                for p in plates
            ],
            "ms": round(elapsed_ms, 1),
        }
        sys.stdout.write(json.dumps(line) + "\n")
    return 1 if failures else 0


def _reader_kind(name: str) -> ReaderKind:
    from anpr_detect.adapters.readers import READER_KINDS

    for kind in READER_KINDS:
        if kind == name:
            return kind
    raise ValueError(f"unknown reader {name!r}")


def _eval(args: argparse.Namespace) -> int:
    from anpr_detect.adapters.ocr import RapidOcrPlateReader
    from anpr_detect.adapters.plate_reading import PlateReader
    from anpr_detect.adapters.readers import READER_KINDS, DetectorPlateReader, build_reader
    from anpr_detect_eval.public_detectors import PUBLIC_DETECTORS, PlatedetBoxes, PublicDetectorMissing
    from anpr_detect_eval.scoring import BASELINES, evaluate, load_manifest, summarise
    from schild.progress import progress
    from schild.results import write_result

    if args.baseline not in BASELINES and args.baseline not in (*READER_KINDS, *PUBLIC_DETECTORS):
        choices = ", ".join([*READER_KINDS, *BASELINES, *PUBLIC_DETECTORS])
        sys.stderr.write(f"anpr eval: --baseline must be one of {choices}\n")
        return 2
    try:
        labelled = load_manifest(args.folder, args.limit)
    except (OSError, ValueError) as error:
        sys.stderr.write(f"anpr eval: {error}\n")
        return 2
    set_name = args.folder.resolve().name
    out: Path = args.out or Path("bench/results") / f"detect_eval_{set_name}.json"
    baseline_reader: PlateReader
    if args.baseline in PUBLIC_DETECTORS:
        try:
            boxes = PlatedetBoxes(threads=args.threads)
        except PublicDetectorMissing as error:
            sys.stderr.write(f"anpr eval: {error}\n")
            return 2
        baseline_reader = DetectorPlateReader(boxes, RapidOcrPlateReader(threads=args.threads))
        baseline_description = (
            f"the public detector '{args.baseline}' (PyPI), then our PP-OCR reading of each box"
        )
    elif args.baseline in READER_KINDS:
        baseline_reader = build_reader(_reader_kind(args.baseline), args.threads)
        baseline_description = f"reader '{args.baseline}'"
    else:
        baseline_reader = RapidOcrPlateReader(threads=args.threads, tuning=BASELINES[args.baseline])
        baseline_description = (
            f"the text reader with configuration '{args.baseline}' ({BASELINES[args.baseline]})"
        )
    readers = [build_reader(_reader_kind(args.reader), args.threads), baseline_reader]
    try:
        with progress(f"images of {set_name}", len(labelled)) as advance:
            measured, baseline = (summarise(outcomes) for outcomes in evaluate(readers, labelled, advance))
    except (OSError, ValueError) as error:
        sys.stderr.write(f"anpr eval: {error}\n")
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    path = write_result(
        out,
        measured,
        baseline,
        notes=(
            f"anpr eval on {set_name} ({len(labelled)} labelled images), threads={args.threads}, one "
            f"image at a time, reader '{args.reader}'. Baseline: {baseline_description}, "
            "measured in the same process, the two readers taking "
            "turns image by image. Detection: "
            "IoU >= 0.5 with the labelled box; exact: the text read at the labelled place (the "
            "plate overlapping the label most) is the label; exact_top: the most confident "
            "plate's text is; anywhere: any plate's text is."
        ),
    )
    sys.stdout.write(json.dumps({"result": str(path), "metrics": measured, "baseline": baseline}) + "\n")
    return 0


def _audit_verify(path: Path, public_key: Path | None, anchors: Path | None, *, offline: bool) -> int:
    from anpr_audit.adapters.anchors import read_anchor_lines
    from anpr_audit.adapters.export_check import ExportError, verify_export
    from anpr_audit.adapters.signing import load_public_pem

    def refuse(reason: str) -> int:
        sys.stderr.write(f"anpr audit verify: {reason}\n")
        return 2

    if (offline or anchors is not None) and public_key is None:
        # The key inside an export vouches for nothing against whoever made the export.
        return refuse("--offline and --anchors need --public-key: the key kept from GET /audit/v1/public-key")
    try:
        trusted = load_public_pem(public_key.read_bytes()) if public_key else None
    except OSError as error:
        return refuse(f"cannot read the public key {public_key}: {error.strerror}")
    except ValueError as error:
        return refuse(f"{public_key} is not an Ed25519 public key in PEM: {error}")
    try:
        anchored = (
            read_anchor_lines(anchors.read_text("utf-8").splitlines(), f"anchor file {anchors}")
            if anchors
            else []
        )
    except OSError as error:
        return refuse(f"cannot read the anchor file {anchors}: {error.strerror}")
    except (UnicodeDecodeError, ValueError) as error:
        return refuse(f"{error} (is {anchors} the anchor file?)")
    try:
        with path.open(encoding="utf-8") as lines:
            result = verify_export(lines, trusted, anchored)
    except OSError as error:
        return refuse(f"cannot read the export {path}: {error.strerror}")
    except (UnicodeDecodeError, ValueError, ExportError) as error:
        return refuse(str(error))
    sys.stdout.write(json.dumps(result.as_dict() | {"anchors": len(anchored)}) + "\n")
    if not result.valid:
        sys.stderr.write(f"first broken row: seq {result.first_broken_seq}: {result.reason}\n")
        return 1
    return 0


def _camera_replay(args: argparse.Namespace) -> int:
    import httpx

    from schild.camera_replay import ReplayReport, ReplaySourceError, replay, source_size
    from schild.progress import progress

    key = args.key or os.environ.get("ANPR_CAMERA_KEY")
    if not key:
        sys.stderr.write("anpr camera replay: give the camera's key with --key or ANPR_CAMERA_KEY\n")
        return 2

    async def pushing() -> dict[str, object]:
        total = source_size(args.source, args.fps, args.limit)
        status = "{accepted} accepted, {refused} refused"
        with progress(f"frames to {args.camera}", total, status=status, accepted=0, refused=0) as advance:

            def shown(report: ReplayReport) -> None:
                advance(accepted=report.accepted + report.duplicates, refused=report.refused)

            async with httpx.AsyncClient(base_url=args.url.rstrip("/"), timeout=30.0) as client:
                report = await replay(
                    client, args.source, args.camera, key, fps=args.fps, limit=args.limit, on_frame=shown
                )
        return report.as_dict()

    try:
        report = asyncio.run(pushing())
    except (ReplaySourceError, httpx.HTTPError) as error:
        sys.stderr.write(f"anpr camera replay: {error}\n")
        return 2
    sys.stdout.write(json.dumps(report) + "\n")
    return 0 if report["refused"] == 0 else 1


def _camera_emulate(args: argparse.Namespace) -> int:
    import httpx

    from schild.camera_emulate import emulate

    key = args.key or os.environ.get("ANPR_CAMERA_KEY")
    if not key:
        sys.stderr.write("anpr camera emulate: give the camera's key with --key or ANPR_CAMERA_KEY\n")
        return 2

    async def pushing() -> dict[str, object]:
        async with httpx.AsyncClient(base_url=args.url.rstrip("/"), timeout=30.0) as client:
            report = await emulate(client, args.vendor, args.camera, key, args.plates)
        return report.as_dict()

    try:
        report = asyncio.run(pushing())
    except httpx.HTTPError as error:
        sys.stderr.write(f"anpr camera emulate: {error}\n")
        return 2
    sys.stdout.write(json.dumps(report) + "\n")
    return 0 if report["refused"] == 0 else 1


def _serve(service: str) -> int:
    import runpy

    runpy.run_module(f"anpr_{service}", run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
