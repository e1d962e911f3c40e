"""Market codes: ISO 3166-1 alpha-2, read from the list shipped in engine/project/data/."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_DATA = Path(__file__).resolve().parent / "data" / "iso3166_alpha2.tsv"

# Codes people write for a country that ISO names otherwise (or not at all).
COMMON_MISTAKES = {
    "UK": "GB",  # the United Kingdom is GB in ISO 3166
    "EL": "GR",  # Greece in EU usage
    "EN": "GB",
    "USA": "US",
    "GBR": "GB",
    "DEU": "DE",
    "FRA": "FR",
    "MYS": "MY",
    "SGP": "SG",
    "IDN": "ID",
    "THA": "TH",
    "VNM": "VN",
    "PHL": "PH",
    "JPN": "JP",
    "KOR": "KR",
    "MEX": "MX",
    "ESP": "ES",
    "ITA": "IT",
    "IRL": "IE",
    "CAN": "CA",
    "BRA": "BR",
    "AUS": "AU",
}


@cache
def countries() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code -> short English name."""
    table = {}
    for line in _DATA.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, _, name = line.partition("\t")
            table[code.strip()] = name.strip()
    return table


def is_country(code: object) -> bool:
    return isinstance(code, str) and code in countries()


def region_hint(code: object) -> str:
    """What to write instead of `code`."""
    text = str(code).strip()
    known = countries()
    fix = COMMON_MISTAKES.get(text.upper()) or (text.upper() if text.upper() in known else None)
    if fix:
        return f"write {fix} ({known[fix]}): regions are ISO 3166-1 alpha-2 codes"
    return "regions are ISO 3166-1 alpha-2 codes, e.g. US, GB (the United Kingdom), DE, MY, SG"
