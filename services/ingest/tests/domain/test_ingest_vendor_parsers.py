"""Golden tests of the vendor parsers, on payloads built from each vendor's published examples (the
source is named at each fixture), with their images, time offsets, directions and country codes, and
the malformed variants each must refuse. Unknown fields are left in to show they are ignored."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from PIL import Image

from anpr_ingest.domain.vendors import PARSERS, MalformedPayload, PayloadLimits, TrackState, Travel, Vendor
from anpr_ingest.domain.vendors.dahua import parse_keep_alive

LIMITS = PayloadLimits(max_image_bytes=512 * 1024)


def jpeg(width: int, height: int, shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 90, 120)).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


CROP = jpeg(160, 40, 10)
SCENE = jpeg(640, 360, 200)
B64_CROP = base64.b64encode(CROP).decode()
B64_SCENE = base64.b64encode(SCENE).decode()


def multipart(boundary: str, parts: list[tuple[str, str, bytes]], *, lengths: bool = True) -> bytes:
    body = b""
    for name, content_type, data in parts:
        length = f"Content-Length: {len(data)}\r\n" if lengths else ""
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
                f"Content-Type: {content_type}\r\n{length}\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode()


# --- Hikvision ----------------------------------------------------------------------------------------
# Source: the alarm-server capture in maciej-or/hikvision_next issue 117 (iDS-2CD7A46G0/P-IZHSY):
# multipart/form-data with boundary "boundary", an anpr.xml part (text/xml, with Content-Length), then
# licensePlatePicture.jpg and detectionPicture.jpg; the EventNotificationAlert's elements as ISAPI's
# ANPR alert has them (dateTime with offset, ANPR/licensePlate, country index, direction,
# confidenceLevel, plateCharBelieve, vehicleType, vehicleInfo, pictureInfoList with absTime, plateRect).

HIK_XML = """<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">
<ipAddress>10.2.124.188</ipAddress><portNo>80</portNo><protocol>HTTP</protocol>
<macAddress>bc:5e:33:62:2a:5c</macAddress><channelID>1</channelID>
<dateTime>2026-03-14T14:49:01+01:00</dateTime><activePostCount>1</activePostCount>
<eventType>ANPR</eventType><eventState>active</eventState><eventDescription>ANPR</eventDescription>
<channelName>E40 inbound</channelName>
<ANPR>
<country>13</country><licensePlate>1ABC234</licensePlate><line>1</line><direction>forward</direction>
<confidenceLevel>97</confidenceLevel><plateType>unknown</plateType><plateColor>white</plateColor>
<licenseBright>0</licenseBright><dangmark>no</dangmark><twoWheelVehicle>no</twoWheelVehicle>
<plateCharBelieve>99,98,97,96,95,94,93</plateCharBelieve><speedLimit>0</speedLimit>
<vehicleType>vehicle</vehicleType><detectDir>8</detectDir><detectType>0</detectType>
<vehicleInfo><index>4</index><colorDepth>2</colorDepth><color>white</color><length>0</length>
<vehicleLogoRecog>1036</vehicleLogoRecog><vehileSubLogoRecog>0</vehileSubLogoRecog></vehicleInfo>
<pictureInfoList>
<pictureInfo><fileName>licensePlatePicture.jpg</fileName><type>licensePlatePicture</type><dataType>0</dataType>
<absTime>20260314144901790</absTime><plateRect><X>0</X><Y>0</Y><width>160</width><height>40</height></plateRect></pictureInfo>
<pictureInfo><fileName>detectionPicture.jpg</fileName><type>detectionPicture</type><dataType>0</dataType>
<absTime>20260314144901790</absTime><plateRect><X>338</X><Y>300</Y><width>117</width><height>44</height></plateRect></pictureInfo>
</pictureInfoList>
<originalLicensePlate>1ABC234</originalLicensePlate><CRIndex>13</CRIndex><vehicleListName>otherList</vehicleListName>
</ANPR>
<UUID>602cf998-1dd2-11b2-a842-be6ebc977415</UUID><picNum>2</picNum><isDataRetransmission>false</isDataRetransmission>
</EventNotificationAlert>"""


def hikvision(xml: str = HIK_XML, *, lengths: bool = True) -> tuple[bytes, str]:
    parts = [
        ("anpr.xml", "text/xml", xml.encode()),
        ("licensePlatePicture.jpg", "image/jpeg", CROP),
        ("detectionPicture.jpg", "image/jpeg", SCENE),
    ]
    return multipart("boundary", parts, lengths=lengths), "multipart/form-data; boundary=boundary"


@pytest.mark.parametrize("lengths", [True, False], ids=["parts-with-length", "parts-without-length"])
def test_hikvision_anpr_alert_gives_its_plate_country_direction_time_and_images(lengths: bool) -> None:
    body, content_type = hikvision(lengths=lengths)
    [read] = PARSERS[Vendor.HIKVISION](body, content_type, LIMITS).reads
    assert read.text == "1ABC234"
    assert read.country == "BE"  # Hikvision's country index 13
    assert read.travel is Travel.TOWARDS  # forward
    assert read.confidence == pytest.approx(0.97)
    assert read.char_confidences == pytest.approx((0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93))
    # absTime (to the millisecond) with dateTime's offset
    assert read.captured_at == datetime(2026, 3, 14, 14, 49, 1, 790_000, tzinfo=timezone(timedelta(hours=1)))
    assert (read.crop, read.overview) == (CROP, SCENE)
    assert read.box == (338, 300, 455, 344)  # the detection picture's plateRect
    assert (read.vehicle_type, read.vehicle_colour, read.vehicle_make) == (
        "vehicle",
        "white",
        "hikvision-logo:1036",
    )


def test_hikvision_other_events_and_unread_plates_are_signs_of_life_only() -> None:
    motion = HIK_XML.replace("<eventType>ANPR</eventType>", "<eventType>VMD</eventType>")
    assert PARSERS[Vendor.HIKVISION](*hikvision(motion), LIMITS).reads == ()
    unread = HIK_XML.replace("<licensePlate>1ABC234</licensePlate>", "<licensePlate>unknown</licensePlate>")
    unread = unread.replace("<originalLicensePlate>1ABC234", "<originalLicensePlate>")
    assert PARSERS[Vendor.HIKVISION](*hikvision(unread), LIMITS).reads == ()


def test_hikvision_xml_alone_without_offset_is_local_time_and_unlisted_country_is_none() -> None:
    xml = HIK_XML.replace("<dateTime>2026-03-14T14:49:01+01:00</dateTime>", "")
    xml = xml.replace("<country>13</country>", "<country>201</country>")
    [read] = PARSERS[Vendor.HIKVISION](xml.encode(), "application/xml", LIMITS).reads
    assert read.captured_at == datetime(2026, 3, 14, 14, 49, 1, 790_000)  # naive: the camera's zone
    assert read.country == ""
    assert (read.crop, read.overview) == (b"", b"")


def test_hikvision_country_codes_map_to_iso_alpha_2() -> None:
    from anpr_ingest.domain.vendors.countries import hikvision_country

    assert [hikvision_country(c) for c in ("1", "3", "6", "13", "17", "22", "30", "0", "999", "BEL")] == [
        "CZ", "DE", "NL", "BE", "GB", "LU", "KZ", "", "", "BE",
    ]  # fmt: skip


XXE = """<?xml version="1.0"?>
<!DOCTYPE EventNotificationAlert [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<EventNotificationAlert><eventType>ANPR</eventType><ANPR><licensePlate>&secret;</licensePlate></ANPR>
</EventNotificationAlert>"""
BILLION_LAUGHS = """<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>
<EventNotificationAlert>&lol2;</EventNotificationAlert>"""


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (XXE, "xml_forbidden"),
        (BILLION_LAUGHS, "xml_forbidden"),
        ("<EventNotificationAlert><eventType>ANPR</eventType>", "bad_xml"),
        ("<ResponseStatus><statusCode>1</statusCode></ResponseStatus>", "bad_event"),
        (HIK_XML.replace("<confidenceLevel>97", "<confidenceLevel>high"), "bad_confidence"),
        (
            HIK_XML.replace("<absTime>20260314144901790</absTime>", "<absTime>2026-03-14</absTime>"),
            "bad_time",
        ),
    ],
    ids=["external-entity", "entity-expansion", "truncated", "not-an-alert", "confidence", "time"],
)
def test_hikvision_malformed_or_hostile_xml_is_refused(xml: str, reason: str) -> None:
    with pytest.raises(MalformedPayload) as refused:
        PARSERS[Vendor.HIKVISION](*hikvision(xml), LIMITS)
    assert refused.value.reason == reason
    assert "/etc/passwd" not in str(refused.value) or reason == "xml_forbidden"


def test_hikvision_multipart_without_xml_or_boundary_is_refused() -> None:
    only_images = multipart("boundary", [("detectionPicture.jpg", "image/jpeg", SCENE)])
    with pytest.raises(MalformedPayload, match="EventNotificationAlert"):
        PARSERS[Vendor.HIKVISION](only_images, "multipart/form-data; boundary=boundary", LIMITS)
    with pytest.raises(MalformedPayload, match="boundary"):
        PARSERS[Vendor.HIKVISION](only_images, "multipart/form-data", LIMITS)
    with pytest.raises(MalformedPayload) as too_many:
        PARSERS[Vendor.HIKVISION](
            multipart("b", [("p.jpg", "image/jpeg", b"x")] * 20), "multipart/form-data; boundary=b", LIMITS
        )
    assert too_many.value.status == 413


# --- Dahua ------------------------------------------------------------------------------------------------
# Source: madcat1991/safewheels-dahua (app/core/anpr.py, app/api/endpoints/anpr.py): the TollgateInfo
# JSON's Picture object with Plate (PlateNumber, Confidence, Region, PlateColor, BoundingBox, IsExist,
# Channel, PlateType, UploadNum), Vehicle (VehicleType, VehicleColor, VehicleSign, VehicleSeries,
# VehicleBoundingBox), SnapInfo (AccurateTime "%Y-%m-%d %H:%M:%S.%f", Direction, TimeZone, AllowUser,
# BlockUser) and NormalPic (Content in base64, PicName).


def dahua(**changes: object) -> bytes:
    picture: dict[str, object] = {
        "Plate": {
            "BoundingBox": [338, 300, 455, 344], "Channel": 0, "Confidence": 88, "IsExist": True,
            "PlateColor": "White", "PlateNumber": "AB-123-CD", "PlateType": "Normal", "Region": "FRA",
            "UploadNum": 17,
        },
        "Vehicle": {
            "VehicleBoundingBox": [100, 80, 600, 350], "VehicleColor": "Black", "VehicleSeries": "A4",
            "VehicleSign": "Audi", "VehicleType": "SaloonCar",
        },
        "SnapInfo": {
            "AccurateTime": "2026-03-14 14:49:01.250", "AllowUser": False, "BlockUser": False,
            "Direction": "Reverse", "TimeZone": 21,
        },
        "NormalPic": {"Content": B64_SCENE, "PicName": "20260314144901250.jpg"},
        "CutoutPic": {"Content": B64_CROP, "PicName": "plate.jpg"},
    }  # fmt: skip
    picture.update(changes)
    return json.dumps({"Picture": picture, "Extra": {"unknown": [1, 2]}}).encode()


def test_dahua_tollgate_info_gives_plate_vehicle_local_time_direction_and_images() -> None:
    [read] = PARSERS[Vendor.DAHUA](dahua(), "application/json", LIMITS).reads
    assert (read.text, read.country, read.travel) == ("AB-123-CD", "FR", Travel.AWAY)
    assert read.confidence == pytest.approx(0.88)
    assert read.captured_at == datetime(2026, 3, 14, 14, 49, 1, 250_000)  # no offset: the camera's zone
    assert (read.overview, read.crop, read.box) == (SCENE, CROP, (338, 300, 455, 344))
    assert (read.vehicle_type, read.vehicle_colour, read.vehicle_make) == ("SaloonCar", "Black", "Audi")


def test_dahua_utc_seconds_win_over_the_local_time() -> None:
    snap = {
        "AccurateTime": "2026-03-14 14:49:01.250",
        "UTC": 1773496141,
        "UTCMS": 250,
        "Direction": "Approach",
    }
    [read] = PARSERS[Vendor.DAHUA](dahua(SnapInfo=snap), "application/json", LIMITS).reads
    assert read.captured_at == datetime(2026, 3, 14, 13, 49, 1, 250_000, tzinfo=UTC)
    assert read.travel is Travel.TOWARDS


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "bad_json"),
        (b'{"Heartbeat": 1}', "no_picture"),
        (dahua(NormalPic={"Content": "!!not base64!!"}), "bad_base64"),
        (dahua(SnapInfo={"Direction": "Reverse"}), "no_time"),
        (dahua(Plate={"PlateNumber": "AB123CD", "Confidence": 250}), "bad_confidence"),
    ],
)
def test_dahua_malformed_notifications_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload) as refused:
        PARSERS[Vendor.DAHUA](body, "application/json", LIMITS)
    assert refused.value.reason == reason


def test_dahua_no_plate_and_keep_alive_publish_nothing() -> None:
    assert PARSERS[Vendor.DAHUA](dahua(Plate={"PlateNumber": "无车牌"}), "", LIMITS).reads == ()
    assert parse_keep_alive(b'{"DeviceID": "ITC-1"}').reads == ()
    with pytest.raises(MalformedPayload):
        parse_keep_alive(b"<xml/>")


def test_dahua_images_are_bounded_before_they_are_decoded() -> None:
    with pytest.raises(MalformedPayload) as refused:
        PARSERS[Vendor.DAHUA](dahua(), "application/json", PayloadLimits(max_image_bytes=1024))
    assert (refused.value.reason, refused.value.status) == ("too_large", 413)


# --- Axis -----------------------------------------------------------------------------------------------
# Source: the AXIS License Plate Verifier's event protocol (FF Group "JSON Fields (Protocol 1.6)":
# packetCounter, datetime "YYYYMMDD HHMMSSFFF[+-HHMM]", plateUTF8/plateUnicode/plateText,
# plateCountry alpha-3, plateConfidence, carState new/updated/lost, geotag, imageType, plateImageType,
# carMoveDirection, plateCoordinates [left, top, width, height], carID, sensorProviderID, roiID,
# capture_timestamp in ms), sent by multipart POST with the image; the NEW/UPDATE/LOST sequence of
# Axis's VAPIX License plate verifier API (car 123: AA7690EQ, then AA7690EO, LOST 10 s later).


def axis_event(state: str, plate: str, at_ms: int | None, **changes: object) -> dict[str, object]:
    event: dict[str, object] = {
        "packetCounter": 2677, "datetime": "20260314 144901100+0100", "plateUTF8": plate,
        "plateUnicode": plate, "plateText": plate, "plateCountry": "NLD", "plateRegion": "",
        "plateConfidence": 0.824497, "carState": state, "roiID": 1,
        "geotag": {"lat": 50.8798, "lon": 4.7005}, "imageType": "plate", "plateImageType": "jpeg",
        "plateImageSize": len(CROP), "carMoveDirection": "in", "carID": "123",
        "plateCoordinates": [338, 300, 117, 44], "vehicle_info": {"type": "car", "color": "white"},
        "sensorProviderID": "E40-in", "frame_timestamp": 155131902113266,
    }  # fmt: skip
    if at_ms is not None:
        event["capture_timestamp"] = at_ms
    event.update(changes)
    return event


def axis(event: dict[str, object], image: bytes = CROP) -> tuple[bytes, str]:
    parts = [("event", "application/json", json.dumps(event).encode()), ("image", "image/jpeg", image)]
    return multipart("axis-boundary", parts), "multipart/form-data; boundary=axis-boundary"


def test_axis_event_gives_plate_track_state_and_its_image() -> None:
    at = 1773496141100
    [read] = PARSERS[Vendor.AXIS](*axis(axis_event("new", "AA7690EQ", at)), LIMITS).reads
    assert (read.text, read.country, read.track, read.state) == ("AA7690EQ", "NL", "123", TrackState.NEW)
    assert read.confidence == pytest.approx(0.824497)
    assert read.captured_at == datetime.fromtimestamp(at / 1000, UTC)
    assert read.travel is Travel.TOWARDS  # "in": towards the camera, against its preset direction
    assert (read.crop, read.overview, read.box) == (CROP, b"", (338, 300, 455, 344))
    assert (read.vehicle_type, read.vehicle_colour) == ("car", "white")


def test_axis_states_and_the_datetime_with_its_offset() -> None:
    states = []
    for state in ("new", "updated", "update", "lost"):
        [read] = PARSERS[Vendor.AXIS](*axis(axis_event(state, "AA7690EO", None)), LIMITS).reads
        states.append(read.state)
        assert read.captured_at == datetime(
            2026, 3, 14, 14, 49, 1, 100_000, tzinfo=timezone(timedelta(hours=1))
        )
    assert states == [TrackState.NEW, TrackState.UPDATE, TrackState.UPDATE, TrackState.LOST]


def test_axis_json_alone_with_a_frame_image_in_its_array() -> None:
    event = axis_event("new", "AA7690EQ", None, datetime="20260314 144901100", imageType="frame")
    event["imageArray"] = [{"imageType": "frame", "image": B64_SCENE}]
    [read] = PARSERS[Vendor.AXIS](json.dumps(event).encode(), "application/json", LIMITS).reads
    assert (read.crop, read.overview) == (b"", SCENE)
    assert read.captured_at == datetime(2026, 3, 14, 14, 49, 1, 100_000)  # naive: the camera's zone


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (axis_event("parked", "AA7690EQ", 1), "bad_state"),
        (axis_event("new", "AA7690EQ", None, datetime="14/03/2026"), "bad_time"),
        (axis_event("new", "AA7690EQ", 1, plateConfidence=82.4), "bad_confidence"),
    ],
)
def test_axis_malformed_events_are_refused(event: dict[str, object], reason: str) -> None:
    with pytest.raises(MalformedPayload) as refused:
        PARSERS[Vendor.AXIS](*axis(event), LIMITS)
    assert refused.value.reason == reason


# --- Vaxtor ----------------------------------------------------------------------------------------------
# Source: Mobotix community, "Vaxtor ALPR Apps - Available variables to customize MxMessages / 3rd
# Party reporting": $date$ (ISO 8601), $plate$, $country$ (3 letters), $confidence$ (0-100),
# $multiplate$, $direction$ (0 unknown, 1 towards, 2 away, 3 stationary), $left$ $top$ $right$
# $bottom$, $plateimage$ and $overviewimage$ (JPEG in base64); posted as well-formed XML, as the
# VaxALPR On Camera developer's guide ("Send HTTP or HTTPS POST XML events") describes.

VAXTOR_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<vaxtor><date>2026-03-14T14:49:01.500+01:00</date><plate>1ABC234</plate><plateutf8>1ABC234</plateutf8>
<country>BEL</country><state></state><category></category><confidence>91</confidence><charheight>22</charheight>
<processingtime>38</processingtime><left>338</left><top>300</top><right>455</right><bottom>344</bottom>
<roiid>1</roiid><multiplate>3</multiplate><direction>2</direction>
<plateimage>{B64_CROP}</plateimage><overviewimage>{B64_SCENE}</overviewimage></vaxtor>"""


def test_vaxtor_xml_report_gives_plate_direction_box_and_images() -> None:
    [read] = PARSERS[Vendor.VAXTOR](VAXTOR_XML.encode(), "application/xml", LIMITS).reads
    assert (read.text, read.country, read.travel) == ("1ABC234", "BE", Travel.AWAY)
    assert read.confidence == pytest.approx(0.91)
    assert read.captured_at == datetime(2026, 3, 14, 14, 49, 1, 500_000, tzinfo=timezone(timedelta(hours=1)))
    assert (read.crop, read.overview, read.box) == (CROP, SCENE, (338, 300, 455, 344))


def test_vaxtor_same_variables_as_a_form_or_json() -> None:
    fields = {
        "$plate$": "1-ABC-234",
        "$country$": "BEL",
        "$confidence$": "91",
        "$date$": "2026-03-14T13:49:01Z",
    }
    from urllib.parse import urlencode

    [form] = PARSERS[Vendor.VAXTOR](
        urlencode(fields).encode(), "application/x-www-form-urlencoded", LIMITS
    ).reads
    [as_json] = PARSERS[Vendor.VAXTOR](json.dumps(fields).encode(), "application/json", LIMITS).reads
    assert form == as_json
    assert (form.text, form.captured_at, form.travel) == (
        "1-ABC-234",
        datetime(2026, 3, 14, 13, 49, 1, tzinfo=UTC),
        Travel.UNKNOWN,
    )


def test_vaxtor_reports_without_date_or_with_a_doctype_are_refused() -> None:
    with pytest.raises(MalformedPayload, match=r"\$date\$"):
        PARSERS[Vendor.VAXTOR](b"<vaxtor><plate>1ABC234</plate></vaxtor>", "application/xml", LIMITS)
    with pytest.raises(MalformedPayload) as refused:
        PARSERS[Vendor.VAXTOR](XXE.encode(), "text/xml", LIMITS)
    assert refused.value.reason == "xml_forbidden"


# --- Genetec ----------------------------------------------------------------------------------------------
# Source: Genetec TechDocs, AutoVu SharpV deployment guide, "Modifications you can make to the SharpV
# FTP XML template": <AutoVu> with Plate, State, UTCDate (yyyy:MM:dd), UTCTime (HH:mm:ss.fff),
# CameraName, SourceName, ContextImage, PlateImage (JPEG in base64), LongitudeX, LatitudeY, Guid, and
# the custom ConfidenceScore and Lane fields.

GENETEC_XML = f"""<?xml version="1.0" encoding="utf-8"?>
<AutoVu><Plate>1ABC234</Plate><State>Belgium</State><UTCDate>2026:03:14</UTCDate><UTCTime>13:49:01.750</UTCTime>
<CameraName>Context Camera</CameraName><SourceName>SharpV12345</SourceName>
<ContextImage>{B64_SCENE}</ContextImage><PlateImage>{B64_CROP}</PlateImage>
<LongitudeX>4.7005</LongitudeX><LatitudeY>50.8798</LatitudeY><Guid>6ee17b00-82c1-466b-9fd6-003417bc82c4</Guid>
<ConfidenceScore>87</ConfidenceScore><Lane>Lane 1</Lane></AutoVu>"""


def test_genetec_template_gives_plate_state_utc_time_and_images() -> None:
    [read] = PARSERS[Vendor.GENETEC](GENETEC_XML.encode(), "application/xml", LIMITS).reads
    assert (read.text, read.country) == ("1ABC234", "BE")
    assert read.confidence == pytest.approx(0.87)
    assert read.captured_at == datetime(2026, 3, 14, 13, 49, 1, 750_000, tzinfo=UTC)
    assert (read.crop, read.overview) == (CROP, SCENE)


def test_genetec_without_confidence_or_time() -> None:
    bare = GENETEC_XML.replace("<ConfidenceScore>87</ConfidenceScore>", "").replace(
        "<State>Belgium", "<State>Ohio"
    )
    [read] = PARSERS[Vendor.GENETEC](bare.encode(), "application/xml", LIMITS).reads
    assert (read.confidence, read.country) == (None, "")
    with pytest.raises(MalformedPayload, match="UTCDate"):
        PARSERS[Vendor.GENETEC](b"<AutoVu><Plate>1ABC234</Plate></AutoVu>", "application/xml", LIMITS)


# --- Tattile ---------------------------------------------------------------------------------------------
# Source: the result fields of a Tattile Vega read as its integrations list them (VDG Sense technical
# article TA-20201002-TP-28: Plate, Country, Vehicle Brand, Vehicle Type, Vehicle Color, Speed), with
# Vega's own field names (PLATE_STRING, PLATE_COUNTRY, OCRSCORE, CHAR_CONFIDENCE, VEHICLE_BRAND,
# VEHICLE_TYPE, VEHICLE_COLOR, SPEED, DATE, TIME, DIRECTION, IMAGE_OCR, IMAGE_CTX) as the template of
# the README sets them.

TATTILE_XML = f"""<?xml version="1.0"?>
<TRANSIT><PLATE_STRING>GE-12-AB</PLATE_STRING><PLATE_COUNTRY>DEU</PLATE_COUNTRY><OCRSCORE>93</OCRSCORE>
<CHAR_CONFIDENCE>99;98;97;96;95;94</CHAR_CONFIDENCE><VEHICLE_BRAND>Volkswagen</VEHICLE_BRAND>
<VEHICLE_TYPE>Car</VEHICLE_TYPE><VEHICLE_COLOR>Grey</VEHICLE_COLOR><SPEED>47</SPEED>
<DATE>20260314</DATE><TIME>144901500</TIME><DIRECTION>approaching</DIRECTION>
<IMAGE_OCR>{B64_CROP}</IMAGE_OCR><IMAGE_CTX>{B64_SCENE}</IMAGE_CTX><LANE>2</LANE></TRANSIT>"""


def test_tattile_transit_gives_plate_country_brand_type_colour_and_images() -> None:
    [read] = PARSERS[Vendor.TATTILE](TATTILE_XML.encode(), "text/xml", LIMITS).reads
    assert (read.text, read.country, read.travel) == ("GE-12-AB", "DE", Travel.TOWARDS)
    assert read.confidence == pytest.approx(0.93)
    assert read.char_confidences == pytest.approx((0.99, 0.98, 0.97, 0.96, 0.95, 0.94))
    assert read.captured_at == datetime(2026, 3, 14, 14, 49, 1, 500_000)  # local: the camera's zone
    assert (read.vehicle_make, read.vehicle_type, read.vehicle_colour) == ("Volkswagen", "Car", "Grey")
    assert (read.crop, read.overview) == (CROP, SCENE)


def test_tattile_refuses_what_is_neither_xml_json_nor_a_form() -> None:
    with pytest.raises(MalformedPayload) as refused:
        PARSERS[Vendor.TATTILE](b"\x00\x01binary", "application/octet-stream", LIMITS)
    assert refused.value.status == 415
