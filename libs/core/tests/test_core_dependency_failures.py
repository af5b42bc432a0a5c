"""A broker or database failing reaches the client as 503 problem+json with Retry-After on any route
of any service; other failures are a logged 500, still problem+json, never plain text."""

from __future__ import annotations

import socket

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from anpr_core.bus import BusUnavailable
from anpr_core.problems import PROBLEM_JSON, dependency_problem, install_problem_handlers, is_transient


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def app_failing_with(make_error: type[BaseException] | BaseException) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/fails")
    async def fails() -> None:
        raise make_error

    return app


async def answer(app: FastAPI) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.get("/fails")


def wrapped(orig: BaseException, kind: type[sa_exc.DBAPIError] = sa_exc.DBAPIError) -> sa_exc.DBAPIError:
    return kind("SELECT 1", {}, orig)


class AdaptedDriverError(Exception):
    """What SQLAlchemy's asyncpg adapter wraps: its own error, carrying the server's SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(BusUnavailable("Kafka did not acknowledge the record within 10.0s"), id="broker"),
        pytest.param(ConnectionRefusedError(111, "Connect call failed"), id="refused"),
        pytest.param(OSError("Multiple exceptions: [Errno 111] Connect call failed"), id="all-addresses"),
        pytest.param(TimeoutError(), id="timeout"),
        pytest.param(sa_exc.TimeoutError("QueuePool limit of size 5 overflow 5 reached"), id="pool-timeout"),
        pytest.param(wrapped(Exception("server closed"), sa_exc.OperationalError), id="operational"),
        pytest.param(wrapped(AdaptedDriverError("57P03")), id="starting-up"),
        pytest.param(wrapped(AdaptedDriverError("53300")), id="too-many-connections"),
        pytest.param(wrapped(AdaptedDriverError("40P01")), id="deadlock"),
        pytest.param(
            wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")), id="dropped"
        ),
    ],
)
async def test_a_transient_failure_is_a_503_problem_with_retry_after(error: BaseException) -> None:
    assert is_transient(error)
    response = await answer(app_failing_with(error))
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["type"] == "urn:schild:unavailable"


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(wrapped(AdaptedDriverError("23505"), sa_exc.IntegrityError), id="unique-violation"),
        pytest.param(wrapped(AdaptedDriverError("42P01"), sa_exc.ProgrammingError), id="no-such-table"),
        pytest.param(FileNotFoundError(2, "No such file"), id="missing-file"),
    ],
)
async def test_a_lasting_failure_is_a_logged_500_still_problem_json(
    error: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    assert not is_transient(error)
    response = await answer(app_failing_with(error))
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "retry-after" not in response.headers
    assert any(record.exc_info for record in caplog.records)


async def test_a_database_that_is_not_there_is_transient() -> None:
    engine = create_async_engine(f"postgresql+asyncpg://u:p@127.0.0.1:{closed_port()}/db")
    try:
        with pytest.raises(Exception) as caught:  # noqa: PT011 - whatever the driver raises is classified
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert is_transient(caught.value)
    assert dependency_problem(caught.value).status == 503
