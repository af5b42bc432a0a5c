"""`python -m anpr_console`: the console as its own process, calling the services over HTTP."""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from anpr_console.bootstrap import build_app
from anpr_console.settings import ConsoleSettings
from anpr_core.jsonlog import configure_logging
from anpr_core.service import serve
from anpr_core.standalone import event_loop_factory, http_protocol, service_socket


def main() -> None:
    try:
        settings = ConsoleSettings()
    except ValidationError as error:
        sys.stderr.write(f"console: invalid settings:\n{error}\n")
        raise SystemExit(2) from error
    configure_logging(settings.log_level)
    sock = service_socket("console", settings)
    app = build_app(settings)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(serve(app, settings, http=http_protocol(), sock=sock))


if __name__ == "__main__":
    main()
