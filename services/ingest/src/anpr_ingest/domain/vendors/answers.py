"""What each vendor's firmware expects back once its push is taken (or was taken before: a resend),
so that it neither resends nor raises an alarm. Refusals are problem+json whatever the vendor.
No I/O."""

from __future__ import annotations

from dataclasses import dataclass

from anpr_ingest.domain.vendors.model import Vendor

# ISAPI's own answer to a request that succeeded (statusCode 1, OK).
_ISAPI_OK = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ResponseStatus version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
    b"<requestURL></requestURL><statusCode>1</statusCode><statusString>OK</statusString>"
    b"<subStatusCode>ok</subStatusCode></ResponseStatus>"
)


@dataclass(frozen=True)
class VendorAnswer:
    status: int
    media_type: str
    body: bytes


def taken(vendor: Vendor) -> VendorAnswer:
    """The answer to a push that is taken: a read published (or published before), a heartbeat, an
    event with nothing to publish. 200, in the vendor's form."""
    if vendor is Vendor.HIKVISION:
        return VendorAnswer(200, "application/xml", _ISAPI_OK)
    if vendor is Vendor.DAHUA:
        # ITSAPI: without Result true the camera sends the same notification again.
        return VendorAnswer(200, "application/json", b'{"Result":true}')
    if vendor is Vendor.AXIS:
        return VendorAnswer(200, "application/json", b'{"status":"ok"}')
    return VendorAnswer(200, "text/plain", b"OK")


MEDIA_TYPES = ("application/xml", "application/json", "text/plain")
