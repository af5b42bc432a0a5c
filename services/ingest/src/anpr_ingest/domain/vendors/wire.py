"""Reading the shapes vendor payloads come in (XML, JSON, multipart, forms, base64 images), each
bounded and hostile-input safe: XML without DTDs, entities or external references (defusedxml), a
capped number of parts and fields, images bounded before they are decoded. No I/O."""

from __future__ import annotations

import base64
import binascii
import json
import re
import xml.etree.ElementTree as ET  # noqa: S405 - only for the Element type; parsing is defusedxml's
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import defusedxml
import defusedxml.ElementTree as SafeET

from anpr_ingest.domain.vendors.model import MalformedPayload, PayloadLimits

__all__ = [
    "Part",
    "decode_image",
    "flat_fields",
    "json_document",
    "key",
    "local",
    "multipart_parts",
    "xml_document",
]


def xml_document(data: bytes) -> ET.Element:
    """The root element; a DTD (and so any entity, internal or external) is refused before anything
    in it is expanded or fetched, and nothing but the bytes given is ever read."""
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as error:
        raise MalformedPayload(
            "xml_forbidden",
            f"the XML declares a DTD or entities ({type(error).__name__}); they are refused: "
            "send the document without <!DOCTYPE>",
            status=400,
        ) from error
    except ET.ParseError as error:
        raise MalformedPayload("bad_xml", f"the XML does not parse: {error}", status=400) from error


def json_document(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise MalformedPayload("bad_json", f"the JSON does not parse: {error}", status=400) from error


def local(tag: str) -> str:
    """An XML tag without its namespace: `{http://www.isapi.org/ver20/XMLSchema}ANPR` -> `ANPR`."""
    return tag.rsplit("}", 1)[-1]


def key(name: str) -> str:
    """A field name as the lookups compare it: lower case, without `_`, `-`, `$` or spaces, so
    `PLATE_STRING`, `plateString` and `$plate$` meet their alias."""
    return re.sub(r"[\s_$\-]", "", name).lower()


# --- multipart ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    name: str
    filename: str
    content_type: str
    data: bytes


_PARAMETER = re.compile(r';\s*([\w.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')


def _parameters(header_value: str) -> dict[str, str]:
    return {k.lower(): v.strip('"') for k, v in _PARAMETER.findall(header_value)}


def media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def multipart_parts(body: bytes, content_type: str, limits: PayloadLimits) -> list[Part]:
    """The parts of a multipart body (form-data or mixed), at most `limits.max_parts`."""
    boundary = _parameters(content_type).get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise MalformedPayload("bad_multipart", "the multipart Content-Type names no boundary", status=400)
    delimiter = b"--" + boundary.encode("latin-1")
    start = body.find(delimiter)
    if start < 0:
        raise MalformedPayload(
            "bad_multipart", "the body holds no part of its multipart boundary", status=400
        )
    parts: list[Part] = []
    position = start + len(delimiter)
    while not body.startswith(b"--", position):
        if len(parts) >= limits.max_parts:
            raise MalformedPayload(
                "too_many_parts", f"more than {limits.max_parts} multipart parts", status=413
            )
        position = _after_line_end(body, position)
        head_end, gap = _headers_end(body, position)
        headers = _part_headers(body[position:head_end])
        data_start = head_end + gap
        declared = headers.get("content-length", "")
        end = -1
        if declared.isdigit() and body.startswith(
            delimiter, _skip_line_end(body, data_start + int(declared))
        ):
            end = data_start + int(declared)
        else:
            end = body.find(b"\r\n" + delimiter, data_start)
            if end < 0:
                end = body.find(b"\n" + delimiter, data_start)
            if end < 0:
                raise MalformedPayload("bad_multipart", "a multipart part is not closed", status=400)
        disposition = _parameters(headers.get("content-disposition", ""))
        parts.append(
            Part(
                name=disposition.get("name", ""),
                filename=disposition.get("filename", ""),
                content_type=headers.get("content-type", ""),
                data=body[data_start:end],
            )
        )
        position = body.find(delimiter, end) + len(delimiter)
        if position < len(delimiter):
            raise MalformedPayload("bad_multipart", "a multipart part is not closed", status=400)
        if position >= len(body):
            break  # no closing "--": cameras that end on the last delimiter are read as they are
    return parts


def _after_line_end(body: bytes, position: int) -> int:
    # The rest of the delimiter line (transport padding, then CRLF or a bare LF).
    newline = body.find(b"\n", position)
    if newline < 0 or newline - position > 80:
        raise MalformedPayload("bad_multipart", "a multipart delimiter line does not end", status=400)
    return newline + 1


def _skip_line_end(body: bytes, position: int) -> int:
    if body.startswith(b"\r\n", position):
        return position + 2
    return position + 1 if body.startswith(b"\n", position) else position


def _headers_end(body: bytes, position: int) -> tuple[int, int]:
    crlf = body.find(b"\r\n\r\n", position, position + 8192)
    lf = body.find(b"\n\n", position, position + 8192)
    if crlf >= 0 and (lf < 0 or crlf <= lf):
        return crlf, 4
    if lf >= 0:
        return lf, 2
    if body.startswith(b"\r\n", position) or body.startswith(b"\n", position):
        return position, 2 if body.startswith(b"\r\n", position) else 1  # a part without headers
    raise MalformedPayload("bad_multipart", "a multipart part's headers do not end", status=400)


def _part_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.decode("latin-1").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


# --- flat templates (Vaxtor, Genetec, Tattile): one field per name -------------------------------------


def flat_fields(body: bytes, content_type: str, limits: PayloadLimits) -> dict[str, str]:
    """Every named value of a flat result, whatever it came as: XML (each element's text and each
    attribute), JSON (each leaf) or a urlencoded form; names as `key` gives them, first one wins."""
    kind = media_type(content_type)
    stripped = body.lstrip()
    if kind.endswith("x-www-form-urlencoded"):
        return _bounded(_form_items(body, limits), limits)
    if kind.endswith("json") or stripped.startswith((b"{", b"[")):
        return _bounded(_json_leaves(json_document(body)), limits)
    if kind.endswith("xml") or stripped.startswith(b"<"):
        return _bounded(_xml_leaves(xml_document(body)), limits)
    if b"=" in body and not stripped.startswith(b"<"):
        return _bounded(_form_items(body, limits), limits)
    raise MalformedPayload(
        "unsupported_media_type",
        f"the body is neither XML, JSON nor a form (Content-Type {content_type or 'absent'})",
        status=415,
    )


def _bounded(items: Iterator[tuple[str, str]], limits: PayloadLimits) -> dict[str, str]:
    fields: dict[str, str] = {}
    for count, (name, value) in enumerate(items):
        if count >= limits.max_fields:
            raise MalformedPayload("too_many_fields", f"more than {limits.max_fields} fields", status=413)
        fields.setdefault(key(name), value.strip())
    return fields


def _form_items(body: bytes, limits: PayloadLimits) -> Iterator[tuple[str, str]]:
    try:
        text = body.decode("utf-8")
        yield from parse_qsl(text, keep_blank_values=True, max_num_fields=limits.max_fields)
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedPayload("bad_form", f"the form does not parse: {error}", status=400) from error


def _json_leaves(node: Any, name: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        for child, value in node.items():
            yield from _json_leaves(value, str(child))
    elif isinstance(node, list):
        for value in node:
            yield from _json_leaves(value, name)
    elif node is not None and name:
        yield name, node if isinstance(node, str) else json.dumps(node)


def _xml_leaves(root: ET.Element) -> Iterator[tuple[str, str]]:
    for element in root.iter():
        for attribute, value in element.attrib.items():
            yield local(attribute), value
        if len(element) == 0:
            yield local(element.tag), element.text or ""


# --- images --------------------------------------------------------------------------------------------


def decode_image(text: str, what: str, limits: PayloadLimits) -> bytes:
    """A base64 image (a `data:` URL prefix allowed), its size bounded before it is decoded."""
    compact = "".join(text.split())
    if compact.startswith("data:"):
        compact = compact.partition(",")[2]
    if not compact:
        return b""
    if len(compact) * 3 // 4 > limits.max_image_bytes:
        raise MalformedPayload(
            "too_large",
            f"the {what} is over {limits.max_image_bytes} bytes once decoded; the limit is "
            f"{limits.max_image_bytes}",
            status=413,
        )
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError) as error:
        raise MalformedPayload("bad_base64", f"the {what} is not valid base64: {error}") from error
