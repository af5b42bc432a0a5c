"""What the audit routes are handed, as Annotated dependencies: the principal a route requires,
and the handlers' ports. The only reader of app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from anpr_audit.handlers.auditor import AuditPorts
from anpr_core.auth import Action, Principal, require


def _ports(request: Request) -> AuditPorts:
    ports: AuditPorts = request.app.state.audit_ports
    return ports


Ports = Annotated[AuditPorts, Depends(_ports)]
# Who may verify the log and its checkpoints, and who may read and export its rows.
Verifier = Annotated[Principal, Depends(require(Action.VERIFY_AUDIT))]
Reader = Annotated[Principal, Depends(require(Action.READ_AUDIT))]
