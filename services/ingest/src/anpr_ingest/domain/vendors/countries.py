"""Vendor country codes as ISO 3166 alpha-2, the platform's one way of naming a plate's country.
No I/O. A code not in these tables gives no country (""), never a guess."""

from __future__ import annotations

from anpr_ingest.domain.vendors.wire import key

# ISO 3166-1 alpha-3 -> alpha-2: Europe (EU, EFTA, the UK, the Western Balkans, Eastern Europe and
# the Caucasus), the Mediterranean rim and the other countries whose plates reach Belgian roads.
ALPHA3: dict[str, str] = {
    "ALB": "AL", "AND": "AD", "ARM": "AM", "AUT": "AT", "AZE": "AZ", "BEL": "BE", "BGR": "BG",
    "BIH": "BA", "BLR": "BY", "CHE": "CH", "CYP": "CY", "CZE": "CZ", "DEU": "DE", "DNK": "DK",
    "ESP": "ES", "EST": "EE", "FIN": "FI", "FRA": "FR", "FRO": "FO", "GBR": "GB", "GEO": "GE",
    "GIB": "GI", "GRC": "GR", "HRV": "HR", "HUN": "HU", "IRL": "IE", "ISL": "IS", "ITA": "IT",
    "KAZ": "KZ", "LIE": "LI", "LTU": "LT", "LUX": "LU", "LVA": "LV", "MCO": "MC", "MDA": "MD",
    "MKD": "MK", "MLT": "MT", "MNE": "ME", "NLD": "NL", "NOR": "NO", "POL": "PL", "PRT": "PT",
    "ROU": "RO", "RUS": "RU", "SMR": "SM", "SRB": "RS", "SVK": "SK", "SVN": "SI", "SWE": "SE",
    "TUR": "TR", "UKR": "UA", "VAT": "VA", "XKX": "XK", "UZB": "UZ", "TKM": "TM", "KGZ": "KG",
    "TJK": "TJ", "ISR": "IL", "MAR": "MA", "DZA": "DZ", "TUN": "TN", "EGY": "EG", "LBN": "LB",
    "JOR": "JO", "SAU": "SA", "ARE": "AE", "QAT": "QA", "KWT": "KW", "OMN": "OM", "BHR": "BH",
    "IRN": "IR", "IRQ": "IQ", "SYR": "SY", "USA": "US", "CAN": "CA", "MEX": "MX", "BRA": "BR",
    "ARG": "AR", "AUS": "AU", "NZL": "NZ", "JPN": "JP", "CHN": "CN", "KOR": "KR", "IND": "IN",
    "ZAF": "ZA",
}  # fmt: skip
# Old or vendor-specific spellings: Romania's pre-2002 ROM, Kosovo's KOS, Axis's "EUR" (none).
ALPHA3.update({"ROM": "RO", "KOS": "XK"})
_ALPHA2 = frozenset(ALPHA3.values())

# Country names as templates print them (Genetec's "State Name"), in English.
NAMES: dict[str, str] = {
    "albania": "AL", "andorra": "AD", "armenia": "AM", "austria": "AT", "azerbaijan": "AZ",
    "belgium": "BE", "bulgaria": "BG", "bosniaandherzegovina": "BA", "belarus": "BY",
    "switzerland": "CH", "cyprus": "CY", "czechrepublic": "CZ", "czechia": "CZ", "germany": "DE",
    "denmark": "DK", "spain": "ES", "estonia": "EE", "finland": "FI", "france": "FR",
    "unitedkingdom": "GB", "greatbritain": "GB", "georgia": "GE", "greece": "GR", "croatia": "HR",
    "hungary": "HU", "ireland": "IE", "iceland": "IS", "italy": "IT", "kazakhstan": "KZ",
    "liechtenstein": "LI", "lithuania": "LT", "luxembourg": "LU", "latvia": "LV", "monaco": "MC",
    "moldova": "MD", "northmacedonia": "MK", "macedonia": "MK", "malta": "MT", "montenegro": "ME",
    "netherlands": "NL", "thenetherlands": "NL", "norway": "NO", "poland": "PL", "portugal": "PT",
    "romania": "RO", "russia": "RU", "sanmarino": "SM", "serbia": "RS", "slovakia": "SK",
    "slovenia": "SI", "sweden": "SE", "turkey": "TR", "turkiye": "TR", "ukraine": "UA",
    "kosovo": "XK", "vatican": "VA",
}  # fmt: skip

# Hikvision's numeric country index (the SDK's COUNTRY_INDEX, which ISAPI's <country> carries):
# 1 to 54, the European and CIS countries its ANPR firmware reads. 0 is "recognition not supported";
# numbers past this table give no country. Source: Hikvision Device Network SDK (Traffic/ANPR)
# developer guide, enumeration COUNTRY_INDEX (30 = Kazakhstan is also what a public ISAPI camera
# simulator sends with a Kazakh plate).
HIKVISION: dict[int, str] = {
    1: "CZ", 2: "FR", 3: "DE", 4: "ES", 5: "IT", 6: "NL", 7: "PL", 8: "SK", 9: "BY", 10: "MD",
    11: "RU", 12: "UA", 13: "BE", 14: "BG", 15: "DK", 16: "FI", 17: "GB", 18: "GR", 19: "HR",
    20: "HU", 21: "IL", 22: "LU", 23: "MK", 24: "NO", 25: "PT", 26: "RO", 27: "RS", 28: "AZ",
    29: "GE", 30: "KZ", 31: "LT", 32: "TM", 33: "UZ", 34: "LV", 35: "EE", 36: "AL", 37: "AT",
    38: "BA", 39: "IE", 40: "IS", 41: "VA", 42: "MT", 43: "SE", 44: "CH", 45: "CY", 46: "TR",
    47: "SI", 48: "ME", 49: "XK", 50: "AD", 51: "AM", 52: "MC", 53: "LI", 54: "SM",
}  # fmt: skip


def iso_country(code: str) -> str:
    """Alpha-2 of an alpha-3 code, an alpha-2 code or an English country name; "" when unknown."""
    text = code.strip()
    upper = text.upper()
    if len(upper) == 3 and upper in ALPHA3:
        return ALPHA3[upper]
    if len(upper) == 2 and upper in _ALPHA2:
        return upper
    if upper == "UK":
        return "GB"
    return NAMES.get(key(text), "")


def hikvision_country(code: str) -> str:
    """Alpha-2 of Hikvision's <country>: its numeric index, or (some firmware) a code or a name."""
    text = code.strip()
    if text.isdigit():
        return HIKVISION.get(int(text), "")
    return iso_country(text)
