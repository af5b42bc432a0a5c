"""Vendor cameras' own formats (Hikvision, Dahua, Axis, Vaxtor, Genetec, Tattile), each read by one
pure parser: bytes and their Content-Type in, the reads the push holds out, or MalformedPayload."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from anpr_ingest.domain.vendors import axis, dahua, genetec, hikvision, tattile, vaxtor
from anpr_ingest.domain.vendors.model import (
    MalformedPayload,
    PayloadLimits,
    TrackState,
    Travel,
    Vendor,
    VendorPush,
    VendorRead,
)

Parser = Callable[[bytes, str, PayloadLimits], VendorPush]

PARSERS: Mapping[Vendor, Parser] = {
    Vendor.HIKVISION: hikvision.parse,
    Vendor.DAHUA: dahua.parse,
    Vendor.AXIS: axis.parse,
    Vendor.VAXTOR: vaxtor.parse,
    Vendor.GENETEC: genetec.parse,
    Vendor.TATTILE: tattile.parse,
}

__all__ = [
    "PARSERS",
    "MalformedPayload",
    "Parser",
    "PayloadLimits",
    "TrackState",
    "Travel",
    "Vendor",
    "VendorPush",
    "VendorRead",
]
