"""A signed-in user as the console keeps them: the token the services gave, who and what role it
names, until when, and the language they chose."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from anpr_console.domain.locales import LOCALES
from anpr_console.domain.pages import actions_for, pages_for
from anpr_core.auth import Principal, Role


class SessionError(ValueError):
    """No usable session: none, expired, or not readable."""


@dataclass(frozen=True)
class Session:
    token: str
    subject: str
    role: Role
    zone_id: str
    expires_at: int  # seconds since the epoch: the token's own expiry
    locale: str
    name: str = ""

    @classmethod
    def of(cls, principal: Principal, token: str, locale: str) -> Session:
        expires = principal.claims.get("exp")
        if not isinstance(expires, int):
            raise SessionError("the token carries no expiry")
        name = principal.claims.get("name") or principal.claims.get("preferred_username") or ""
        return cls(token, principal.subject, principal.role, principal.zone_id, expires, locale, str(name))

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    def speaking(self, locale: str) -> Session:
        if locale not in LOCALES:
            raise SessionError(f"the console speaks {', '.join(LOCALES)}, not {locale!r}")
        return replace(self, locale=locale)

    def as_record(self) -> dict[str, Any]:
        return {
            "t": self.token,
            "s": self.subject,
            "r": self.role.value,
            "z": self.zone_id,
            "e": self.expires_at,
            "l": self.locale,
            "n": self.name,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Session:
        try:
            return cls(
                str(record["t"]),
                str(record["s"]),
                Role(record["r"]),
                str(record["z"]),
                int(record["e"]),
                str(record["l"]),
                str(record.get("n", "")),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise SessionError("the session cannot be read") from error

    def view(self) -> dict[str, Any]:
        """What the page is told about its user: never the token."""
        return {
            "subject": self.subject,
            "name": self.name or self.subject,
            "role": self.role.value,
            "zone_id": self.zone_id,
            "expires_at": self.expires_at,
            "locale": self.locale,
            "pages": pages_for(self.role),
            "actions": actions_for(self.role),
        }
