"""The console's languages: Dutch, French and English, chosen per user."""

from __future__ import annotations

LOCALES = ("nl", "fr", "en")
DEFAULT_LOCALE = "nl"


def negotiate(*preferences: str | None) -> str:
    """The first supported language among `preferences` (an OIDC `locale` claim, an Accept-Language
    header: 'fr-BE,fr;q=0.9,en;q=0.8'), else Dutch."""
    for preference in preferences:
        for part in (preference or "").split(","):
            tag = part.split(";", 1)[0].strip().lower()
            language = tag.split("-", 1)[0].split("_", 1)[0]
            if language in LOCALES:
                return language
    return DEFAULT_LOCALE
