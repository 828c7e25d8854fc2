"""Regions and localities. Global products (IAM, Account, Edge Services) count as fr-par."""

from __future__ import annotations

import re

REGIONS = ("fr-par", "nl-ams", "pl-waw")
DEFAULT_REGION = "fr-par"
GLOBAL = "global"
REGION_NAMES = {"fr-par": "Paris", "nl-ams": "Amsterdam", "pl-waw": "Warsaw"}
# Drop-down choices: "fr-par (Paris)".
REGION_CHOICES = [(r, f"{r} ({REGION_NAMES[r]})") for r in REGIONS]
REGION_RE = re.compile(r"^[a-z]{2}-[a-z]{3}$")
LOCALITY_RE = re.compile(r"^(global|[a-z]{2}-[a-z]{3}(-[1-9])?)$")


def region_of(locality: str) -> str:
    """fr-par-2 (a zone) is in fr-par; global events are stored and shown in fr-par."""
    if locality == GLOBAL or not locality:
        return DEFAULT_REGION
    return locality[:6]


def is_region(value: object) -> bool:
    """The one check that `value` names a region we serve (the console's and the API's)."""
    return value in REGIONS


def region_or_default(value: object) -> str:
    """`value` when it names a region we serve, else the default (a missing or made-up one)."""
    return value if isinstance(value, str) and is_region(value) else DEFAULT_REGION
