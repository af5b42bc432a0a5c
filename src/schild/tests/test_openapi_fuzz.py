"""schemathesis against every service's OpenAPI, in the embedded platform (ASGI, in-process, SQLite):
no server error, every answer's status code, media type and body as documented, every time with an
offset. Calls carry the tokens of the roles an operation names (`x-roles`), and sometimes a wrong
role, another zone's token, an expired or forged one, or none; camera calls the camera's key or not.

The counts (cases, answers by class, and each check's passes and failures) are printed with the
test's output; SCHILD_FUZZ_VERBOSE=1 adds every operation's answers by status code.
"""

from __future__ import annotations

import json
import os
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
import schemathesis
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict
from schemathesis.core import NotSet
from schemathesis.engine import Status, events, from_schema
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER, HookContext
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.formats import STRING_FORMATS

from anpr_core.auth import Role
from schild.embedded import EmbeddedPlatform, build_platform

SERVICES = ("ingest", "detect", "match", "audit", "access", "share")
# Per operation and phase; with the coverage phase's boundary cases, about 3,400 calls in all (~20 s).
MAX_EXAMPLES = 20
SEED = 15
ZONE = "5344"
OTHER_ZONE = "5999"
FUZZ_CAMERA = "cam-fuzz"
ADMIN_CAMERA = "cam-fuzz-admin"
FUZZ_LIST = "fuzz-list"
NIGHT_LIST = "fuzz-night"  # active 22:00 to 06:00, local time
FUZZ_PLATE = "1FUZ234"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "times_carry_an_offset",
    "answers_name_their_media_type",
)


# --- the check the built-in ones do not make -------------------------------------------------------

# A date and a time, then no offset: "2026-05-01T10:00:00" or "2026-05-01 10:00:00.123456".
_NAIVE_TIME = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?![\d.:]|Z|[+-]\d{2}:?\d{2})"
)


@schemathesis.check
def times_carry_an_offset(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    """Every time a service writes names its offset (RFC 3339), whatever the media type."""
    media_type = response.headers.get("content-type", [""])[0].split(";")[0].strip()
    if response.status_code >= 400 or not _is_text(media_type):
        return None  # a refusal may quote what the client sent; an image or a ZIP has no text
    naive = _NAIVE_TIME.findall(response.content.decode("utf-8", errors="replace"))
    if naive:
        raise AssertionError(f"times without an offset: {sorted(set(naive))[:5]}")
    return True


@schemathesis.check
def answers_name_their_media_type(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    """A successful answer's media type is in its documented content (an SSE stream as
    text/event-stream, a CSV as text/csv), so a client knows what it gets before it reads it."""
    if response.status_code >= 400 or not response.content:
        return None
    responses: dict[str, Any] = case.operation.definition.raw.get("responses", {})
    status = str(response.status_code)
    documented = responses.get(status) or responses.get(f"{status[0]}XX") or responses.get("default")
    if documented is None:
        return None  # an undocumented status: status_code_conformance says so
    media_type = response.headers.get("content-type", [""])[0].split(";")[0].strip().lower()
    content: dict[str, Any] = documented.get("content") or {}
    if media_type not in {declared.lower() for declared in content}:
        declared = sorted(content) or "no content"
        raise AssertionError(f"answered {media_type or '(no media type)'}, documented {declared}")
    return True


def _is_text(media_type: str) -> bool:
    return media_type.startswith("text/") or media_type.endswith(("json", "csv", "ndjson"))


# --- who calls ---------------------------------------------------------------------------------------


@dataclass
class Callers:
    """The credentials a call gets, chosen from its content, so most calls get past auth and the rest
    try each way of failing it."""

    valid: dict[str, str]
    other_zone: dict[str, str]
    expired: str
    forged: str
    camera_key: str
    # Path parameter -> an id that exists, so half the calls reach past the lookup into the handler.
    known_ids: dict[str, str]

    def before_call(
        self, _context: HookContext, case: schemathesis.Case[Any], _kwargs: dict[str, Any]
    ) -> None:
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        turn = _turn(case, headers)
        roles: list[str] | None = case.operation.definition.raw.get("x-roles")
        if roles is not None:
            bearer = self._bearer(roles, turn)
            if bearer is not None:
                headers["Authorization"] = f"Bearer {bearer}"
        names = {p.get("name", "").lower() for p in case.operation.definition.raw.get("parameters", [])}
        camera_call = "x-camera-key" in names
        if camera_call:
            headers = {k: v for k, v in headers.items() if k.lower() != "x-camera-key"}
            key = [self.camera_key, self.camera_key, self.camera_key, "not-the-key", None][turn % 5]
            if key is not None:
                headers["X-Camera-Key"] = key
            if "x-camera-id" in names and turn % 2 == 0:
                headers["X-Camera-Id"] = FUZZ_CAMERA
        if case.path_parameters and turn % 2 == 0:
            for name in case.path_parameters:
                known = FUZZ_CAMERA if camera_call and name == "camera_id" else self.known_ids.get(name)
                if case.operation.path.endswith("/expire"):
                    known = self.known_ids.get("expiring_entry_id", known)
                if known is not None:
                    case.path_parameters[name] = known
        case.headers = CaseInsensitiveDict(headers)

    def _bearer(self, roles: list[str], turn: int) -> str | None:
        # Three calls in four as a role the operation serves; the fourth tries a wrong credential.
        if turn % 4 != 3 and roles:
            return self.valid[roles[turn // 4 % len(roles)]]
        wrong_role = next((role for role in self.valid if role not in roles), None)
        wrong = [
            self.valid[wrong_role] if wrong_role else None,
            self.other_zone[roles[0]] if roles else None,
            self.expired,
            self.forged,
            None,
        ]
        return wrong[turn // 4 % len(wrong)]


def _turn(case: schemathesis.Case[Any], headers: dict[str, Any]) -> int:
    """Which credential a case gets: from its content, so the same case (re-sent by schemathesis) always
    gets the same one, and the run stays repeatable."""
    body = None if isinstance(case.body, NotSet) else case.body
    content = (case.operation.label, case.path_parameters, case.query, sorted(headers.items()), body)
    return zlib.crc32(repr(content).encode("utf-8", errors="replace"))


# --- the platform --------------------------------------------------------------------------------------


class _NoPlates:
    def read(self, image: np.ndarray[Any, Any]) -> list[Any]:
        return []


class Served:
    """The platform as uvicorn serves it: when a handler raises, the client gets a 500 and the error is
    logged (here: kept), instead of the exception escaping into the fuzzer without its operation."""

    def __init__(self, platform: EmbeddedPlatform) -> None:
        self.platform = platform
        self.crashes: Counter[str] = Counter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.platform.app(scope, receive, send)
            return
        started = False

        async def watched(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.platform.app(scope, receive, watched)
        except Exception as error:  # noqa: BLE001 - a server logs it; the client sees a 500
            self.crashes[f"{scope['method']} {scope['path']}: {error!r}"[:300]] += 1
            if not started:
                await send({"type": "http.response.start", "status": 500, "headers": []})
                await send({"type": "http.response.body", "body": b"Internal Server Error"})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("ANPR_"):
                env.delenv(name)
        built = build_platform(
            tmp_path_factory.mktemp("fuzz") / "var", reader_factory=lambda _settings: _NoPlates()
        )
        try:
            yield Served(built)
        finally:
            # schemathesis runs the app's lifespan on its own event loop thread, from the first call.
            schemathesis_asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def callers(served: Served) -> Callers:
    """Tokens for every role, and one of each thing a path can name: cameras, a list, hotlist
    entries, a hit, a passage, a hold and a DPO request."""
    issuer = served.platform.issuer

    def as_role(role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {issuer.issue(f'fuzz-seed-{role.value}', role, ZONE)}"}

    def created(response: Any) -> dict[str, Any]:
        assert response.status_code in (200, 201, 202), response.text
        body: dict[str, Any] = response.json()
        return body

    now = datetime.now(UTC)
    with schemathesis_asgi.get_client(served) as client:
        admin, supervisor, dpo = as_role(Role.ADMIN), as_role(Role.SUPERVISOR), as_role(Role.DPO)
        camera = {"name": "Fuzz camera", "direction": "in", "kind": "smart"}
        camera_key = created(
            client.post("/ingest/v1/cameras", headers=admin, json={"camera_id": FUZZ_CAMERA, **camera})
        )
        created(client.post("/ingest/v1/cameras", headers=admin, json={"camera_id": ADMIN_CAMERA, **camera}))
        created(
            client.post(
                "/match/v1/lists", headers=supervisor, json={"name": FUZZ_LIST, "category": "stolen_vehicle"}
            )
        )
        night = {
            "name": NIGHT_LIST,
            "category": "local_watch",
            "active_from": "22:00",
            "active_until": "06:00",
        }
        created(client.post("/match/v1/lists", headers=supervisor, json=night))
        entry = {"plate": FUZZ_PLATE, "list_name": FUZZ_LIST, "reason": "fuzz", "case_reference": "PV/FUZZ/1"}
        entry_id = created(client.post("/match/v1/hotlist", headers=supervisor, json=entry))["entry_id"]
        expiring = created(
            client.post("/match/v1/hotlist", headers=supervisor, json={**entry, "plate": "2FUZ345"})
        )
        read = {
            "camera_id": FUZZ_CAMERA,
            "captured_at": now.isoformat(),
            "text": FUZZ_PLATE,
            "confidence": "0.99",
        }
        passage_id = created(
            client.post("/ingest/v1/reads", headers={"X-Camera-Key": camera_key["api_key"]}, data=read)
        )["event_id"]
        hit_id = _eventually(lambda: client.get("/match/v1/hits", headers=supervisor).json())[0]["hit_id"]
        hold = {"case_reference": "PV/FUZZ/1", "plate": FUZZ_PLATE, "reason": "fuzz"}
        hold_id = created(client.post("/access/v1/holds", headers=dpo, json=hold))["hold_id"]
        request = {
            "kind": "access",
            "requester": "fuzz",
            "plate": FUZZ_PLATE,
            "since": (now - timedelta(days=1)).isoformat(),
            "until": now.isoformat(),
        }
        request_id = created(client.post("/access/v1/dpo/requests", headers=dpo, json=request))["request_id"]
    return Callers(
        valid={role.value: issuer.issue(f"fuzz-{role.value}", role, ZONE) for role in Role},
        other_zone={role.value: issuer.issue(f"fuzz-{role.value}", role, OTHER_ZONE) for role in Role},
        expired=issuer.issue("fuzz-expired", Role.AUDITOR, ZONE, ttl_s=-120),
        forged=issuer.issue("fuzz-forged", Role.ADMIN, ZONE)[:-8] + "AAAAAAAA",
        camera_key=str(camera_key["api_key"]),
        known_ids={
            "camera_id": ADMIN_CAMERA,
            "name": NIGHT_LIST,
            "entry_id": str(entry_id),
            "expiring_entry_id": str(expiring["entry_id"]),
            "hit_id": str(hit_id),
            "event_id": str(passage_id),
            "hold_id": str(hold_id),
            "request_id": str(request_id),
        },
    )


def _eventually(fetch: Callable[[], list[Any]], timeout_s: float = 20.0) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    while not (found := fetch()):
        assert time.monotonic() < deadline, "the seeded read raised no hit"
        time.sleep(0.05)
    return found


# --- the run -------------------------------------------------------------------------------------------


@dataclass
class FuzzReport:
    service: str
    cases: int = 0
    checks: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: dict[tuple[str, str, str, str], list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    operations: set[str] = field(default_factory=set)
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    seconds: float = 0.0

    def summary(self) -> str:
        parts = []
        for check in CHECKS:
            passed, failed = self.checks[(check, "success")], self.checks[(check, "failure")]
            parts.append(f"{check} {passed} passed, {failed} failed")
        classes = Counter(f"{status // 100}xx" for (_, status), n in self.answers.items() for _ in range(n))
        answered = ", ".join(f"{n} {kind}" for kind, n in sorted(classes.items()))
        return (
            f"fuzz {self.service}: {self.cases} cases over {len(self.operations)} operations "
            f"in {self.seconds:.1f} s (answers: {answered}); " + "; ".join(parts)
        )


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},
            # An event stream is cut after its first event, or after the timeout if none comes.
            "request-timeout": 2,
            "max-stream-events": 1,
            # Repeatable, and bounded: no example database, no shrinking of what fails.
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
                "no-shrink": True,
            },
            "phases": {
                "examples": {"enabled": True},
                # Boundary values and invalid inputs, each parameter in turn.
                "coverage": {"enabled": True},
                # Valid requests, so calls reach the handlers behind validation.
                "fuzzing": {"enabled": True, "generation": {"mode": "positive"}},
                # Sequences (create, then read, change, delete what was created).
                "stateful": {"enabled": True, "max-steps": 6},
            },
            "checks": {"enabled": False, **{check: {"enabled": True} for check in CHECKS}},
            # A stream that stays open holds each case for the whole timeout: cut it sooner.
            "operations": [{"include-path": "/v1/hits/stream", "request-timeout": 0.3}],
        }
    )


def _date_times() -> st.SearchStrategy[str]:
    """RFC 3339 times, recent ones (the legal tiers look back a month), and some without an offset:
    a client that sends one gets a 422 that says so, never a 500."""
    now = datetime.now(UTC).replace(microsecond=0)
    recent = st.integers(min_value=-40 * 86400, max_value=3600).map(lambda s: now + timedelta(seconds=s))
    anytime = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda moment: moment.replace(tzinfo=UTC)
    )
    offsets = st.sampled_from([timedelta(0), timedelta(hours=2), timedelta(hours=-5, minutes=-30)])
    aware = st.tuples(recent | anytime, offsets).map(lambda m: m[0].astimezone(timezone(m[1])).isoformat())
    naive = (recent | anytime).map(lambda moment: moment.replace(tzinfo=None).isoformat())
    return st.one_of(aware, aware, naive)


def _fuzz(served: Served, service: str, callers: Callers) -> FuzzReport:
    report = FuzzReport(service)
    began = time.monotonic()
    schema = schemathesis.openapi.from_asgi(f"/{service}/openapi.json", served, config=_config())
    GLOBAL_HOOK_DISPATCHER.register_hook_with_name(callers.before_call, "before_call")
    default_date_times = STRING_FORMATS.get("date-time")
    schemathesis.openapi.format("date-time", _date_times())
    try:
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                _record(report, event.recorder)
            elif isinstance(event, events.NonFatalError):
                report.errors.append(f"{event.label}: {event.value!r}")
            elif isinstance(event, events.FatalError):
                report.errors.append(f"fatal: {event.exception!r}")
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(callers.before_call)
        if default_date_times is not None:
            schemathesis.openapi.format("date-time", default_date_times)
    report.seconds = time.monotonic() - began
    return report


def _record(report: FuzzReport, recorder: Any) -> None:
    report.cases += len(recorder.cases)
    for case_id, interaction in recorder.interactions.items():
        if interaction.response is not None:
            report.answers[
                (recorder.cases[case_id].value.operation.label, interaction.response.status_code)
            ] += 1
    for case_id, checks in recorder.checks.items():
        case = recorder.cases[case_id].value
        report.operations.add(case.operation.label)
        for check in checks:
            report.checks[(check.name, check.status.value)] += 1
            if check.status is not Status.FAILURE:
                continue
            key = (report.service, case.operation.method.upper(), case.operation.path, check.name)
            examples = report.failures.setdefault(key, [])
            if len(examples) < 2:
                response = recorder.interactions[case_id].response
                answer = f"{response.status_code} {response.text[:300]!r}" if response else "no response"
                failure = check.failure_info.failure
                what = f"{failure.title} ({failure.message[:200]})" if failure.message else failure.title
                examples.append(f"{what}: {_request(case)} -> {answer}")


def _request(case: schemathesis.Case[Any]) -> str:
    shown = {
        "path": case.path_parameters or None,
        "query": case.query or None,
        "body": None if isinstance(case.body, NotSet) else case.body,
        "headers": {k: v[:20] for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        or None,
    }
    text = json.dumps({k: v for k, v in shown.items() if v is not None}, default=str)
    return f"{case.operation.label} {text[:300]}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_answers_only_what_its_openapi_documents(
    served: Served, callers: Callers, service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    served.crashes.clear()
    report = _fuzz(served, service, callers)
    with capsys.disabled():
        print(f"\n{report.summary()}")
        if os.environ.get("SCHILD_FUZZ_VERBOSE"):
            for (label, status), n in sorted(report.answers.items()):
                print(f"    {label} {status}: {n}")
    assert not report.errors, "\n".join(report.errors)
    assert report.cases >= len(report.operations) > 0
    assert not report.failures, "\n".join(
        [
            f"{' '.join(key)}:\n    " + "\n    ".join(examples)
            for key, examples in sorted(report.failures.items())
        ]
        + [f"server error: {crash} (x{n})" for crash, n in sorted(served.crashes.items())]
    )
