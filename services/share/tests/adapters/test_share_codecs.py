"""The wire of sharing on plain messages: a list's rules shared without what is about this zone, a
neighbour's record and the zones it claims, an entry ended with its agreement; and share's settings
for the exchange, refused when unsound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from anpr.v1 import common_pb2, hotlist_pb2, read_pb2, share_pb2
from anpr_core.events import new_meta, to_timestamp
from anpr_share.adapters.codecs import ENDED_KIND, KIND_HEADER, LIST_KIND, ShareCodec
from anpr_share.domain.zone_topics import SharedKind
from anpr_share.handlers.views import NeighbourKind, SharingEnd
from anpr_share.settings import ShareSettings

pytestmark = pytest.mark.usefixtures("no_anpr_environment")

CODEC = ShareCodec("5344")
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_a_lists_rules_are_shared_without_its_cameras_hours_and_words() -> None:
    rules = hotlist_pb2.HotlistRules(
        meta=new_meta("5344", "match"),
        list_name="stolen",
        category="stolen_vehicle",
        max_substitutions=2,
        allow_edit=True,
        directions=[common_pb2.DIRECTION_IN],
        active_from="22:00",
        active_until="06:00",
        timezone="Europe/Brussels",
        camera_ids=["cam-e40"],
        description="the night watch of the E40",
    )
    view = CODEC.hotlist([(KIND_HEADER, LIST_KIND)], rules.SerializeToString())
    assert view.is_rules and view.record_id == "list:stolen" and not view.owner_zone
    encoded = CODEC.minimised_hotlist(view)
    assert (KIND_HEADER, LIST_KIND) in encoded.headers
    shared = hotlist_pb2.HotlistRules()
    shared.ParseFromString(encoded.value)
    assert (shared.list_name, shared.max_substitutions, shared.allow_edit) == ("stolen", 2, True)
    assert shared.owner_zone == "5344" and shared.meta.zone_id == "5344"
    assert not shared.camera_ids and not shared.directions and not shared.active_from
    assert not shared.description


def test_a_list_a_neighbour_owns_is_seen_as_theirs() -> None:
    rules = hotlist_pb2.HotlistRules(
        list_name="zone-5388.stolen", category="stolen_vehicle", owner_zone="5388"
    )
    entry = hotlist_pb2.HotlistEntry(entry_id="e1", list_name="zone-5388.stolen", source_zone="5388")
    own = hotlist_pb2.HotlistEntry(entry_id="e2", list_name="stolen", source_zone="5344")
    assert CODEC.hotlist([(KIND_HEADER, LIST_KIND)], rules.SerializeToString()).owner_zone == "5388"
    assert CODEC.hotlist([], entry.SerializeToString()).owner_zone == "5388"
    assert CODEC.hotlist([], own.SerializeToString()).owner_zone == ""


def test_a_neighbours_records_say_which_zones_they_claim() -> None:
    read = read_pb2.PlateRead(meta=new_meta("5388", "share"), camera_id="c")
    assert CODEC.neighbour(SharedKind.READS, [], read.SerializeToString()).claims == {"5388"}
    entry = hotlist_pb2.HotlistEntry(meta=new_meta("5388", "share"), entry_id="e", source_zone="5390")
    assert CODEC.neighbour(SharedKind.HOTLIST, [], entry.SerializeToString()).claims == {"5388", "5390"}
    rules = hotlist_pb2.HotlistRules(meta=new_meta("5388", "share"), list_name="x", owner_zone="5388")
    record = CODEC.neighbour(SharedKind.HOTLIST, [(KIND_HEADER, LIST_KIND)], rules.SerializeToString())
    assert record.kind is NeighbourKind.RULES and record.claims == {"5388"}
    ended = CODEC.sharing_ended(SharingEnd("5388", NOW, "AGR-1", "revoked"))
    taken = CODEC.neighbour(SharedKind.HOTLIST, ended.headers, ended.value)
    assert taken.kind is NeighbourKind.ENDED and taken.claims == {"5344", "5388"}, "5344 made it here"


def test_an_entry_taken_in_ends_no_later_than_its_agreement() -> None:
    open_ended = hotlist_pb2.HotlistEntry(meta=new_meta("5388", "share"), entry_id="e", source_zone="5388")
    later = hotlist_pb2.HotlistEntry(entry_id="f", source_zone="5388")
    later.valid_until.CopyFrom(to_timestamp(NOW + timedelta(days=90)))
    sooner = hotlist_pb2.HotlistEntry(entry_id="g", source_zone="5388")
    sooner.valid_until.CopyFrom(to_timestamp(NOW - timedelta(days=1)))
    ends = NOW + timedelta(days=30)
    for entry, expected in ((open_ended, ends), (later, ends), (sooner, NOW - timedelta(days=1))):
        record = CODEC.neighbour(SharedKind.HOTLIST, [], entry.SerializeToString())
        out = hotlist_pb2.HotlistEntry()
        out.ParseFromString(CODEC.accepted(record, ends).value)
        assert out.valid_until.ToDatetime(tzinfo=UTC) == expected
    unbounded = CODEC.neighbour(SharedKind.HOTLIST, [], open_ended.SerializeToString())
    out = hotlist_pb2.HotlistEntry()
    out.ParseFromString(CODEC.accepted(unbounded, None).value)
    assert not out.HasField("valid_until")
    ended = share_pb2.SharingEnded()
    ended.ParseFromString(CODEC.sharing_ended(SharingEnd("5388", NOW, "AGR-1", "revoked")).value)
    assert ended.zone_id == "5388" and ended.reason == "revoked"
    assert (KIND_HEADER, ENDED_KIND) in CODEC.sharing_ended(SharingEnd("5388", NOW, "A", "r")).headers


def test_the_exchange_settings_name_a_sound_login() -> None:
    settings = ShareSettings(
        exchange_bootstrap="exchange:9094",
        exchange_protocol="SASL_PLAINTEXT",
        exchange_username="zone-5344",
        exchange_password="secret",
    )
    security = settings.exchange_security()
    assert security is not None and security.username == "zone-5344" and security.protocol == "SASL_PLAINTEXT"
    assert ShareSettings(exchange_protocol="PLAINTEXT").exchange_security() is None
    with pytest.raises(ValidationError, match="ANPR_SHARE_EXCHANGE_USERNAME"):
        ShareSettings(exchange_bootstrap="exchange:9094")
    with pytest.raises(ValidationError, match="names the exchange's topics"):
        ShareSettings(zone_id="53.44")
    with pytest.raises(ValidationError, match="PLAINTEXT exchange"):
        ShareSettings(
            env="production",
            kafka_bootstrap="k:9092",
            database_url="sqlite+aiosqlite:///x.db",
            oidc_issuer="https://idp",
            oidc_jwks_url="https://idp/jwks",
            metrics_token="a-scrape-token-of-length",
            exchange_bootstrap="exchange:9094",
            exchange_protocol="PLAINTEXT",
        )
