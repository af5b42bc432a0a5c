"""What operators bring to hits and the hotlist: why they look (asked of every look and export, and
audited with it: LED art. 25), and their verdict on a hit."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Purpose(StrEnum):
    """Why a person looks at hits or the hotlist; recorded with every look."""

    # Following up hits as they come in, in the control room: what the live views are for.
    OPERATIONAL = "operational"
    ADMINISTRATIVE = "administrative"
    JUDICIAL = "judicial"


@dataclass(frozen=True)
class Justification:
    """Why, asked of every look at hits and entries and of every export; audited with it."""

    purpose: Purpose | None
    case_reference: str
    recipient: str = ""

    def audit_fields(self) -> dict[str, str]:
        return {"purpose": self.purpose.value if self.purpose else "", "case_reference": self.case_reference}

    def missing_for_export(self) -> list[str]:
        """What an export lacks of its justification: a purpose and a case reference are required."""
        return [
            name
            for name, absent in (
                ("purpose", self.purpose is None),
                ("case_reference", not self.case_reference),
            )
            if absent
        ]


# An operator's verdict on a hit; false alarms feed the false-alarm rate. (No docstring: the
# OpenAPI description would show it.)
class AckOutcome(StrEnum):
    CONFIRMED = "confirmed"
    FALSE_ALARM = "false_alarm"
    NOT_SEEN = "not_seen"
