"""The committed generated code must match what protoc makes from the schemas now."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("proto_generate", Path(__file__).with_name("generate.py"))
assert _spec and _spec.loader
generate_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate_module)


def test_committed_code_is_current(tmp_path: Path) -> None:
    fresh = generate_module.generate(tmp_path)
    assert fresh, "protoc wrote nothing"
    committed_dir = generate_module.DEFAULT_OUT / "anpr" / "v1"
    stale = []
    for path in fresh:
        committed = committed_dir / path.name
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            stale.append(path.name)
    extra = {p.name for p in committed_dir.glob("*_pb2.py*")} - {p.name for p in fresh}
    assert not stale and not extra, f"run `make proto`: stale {stale}, orphaned {sorted(extra)}"


def test_every_event_carries_meta() -> None:
    from anpr.v1 import audit_pb2, camera_pb2, dlq_pb2, frame_pb2, hit_pb2, hotlist_pb2, read_pb2, share_pb2

    for message in (
        frame_pb2.Frame,
        read_pb2.PlateRead,
        hit_pb2.Hit,
        hotlist_pb2.HotlistEntry,
        audit_pb2.AuditEvent,
        dlq_pb2.DeadLetter,
        camera_pb2.CameraEntry,
        share_pb2.SharingEnded,
    ):
        field = message.DESCRIPTOR.fields_by_name["meta"]
        assert field.number == 1
        assert field.message_type is not None
        assert field.message_type.full_name == "anpr.v1.EventMeta"
