"""The auditor's anchor file: one JSON line per signed checkpoint, appended, never rewritten."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
from collections.abc import Iterable
from pathlib import Path

from anpr_audit.adapters.anchors import AnchorError, anchor_line, read_anchor_lines
from anpr_audit.domain.checkpoints import Checkpoint, newest

log = logging.getLogger(__name__)

# FS_IOC_GETFLAGS and its append-only flag (linux/fs.h), to tell whether chattr +a was done.
_FS_IOC_GETFLAGS = 0x80086601
_FS_APPEND_FL = 0x00000020


def append_only(path: Path) -> bool | None:
    """Whether the file carries the append-only attribute; None where the file system cannot tell."""
    try:
        with path.open("rb") as handle:
            flags = fcntl.ioctl(handle.fileno(), _FS_IOC_GETFLAGS, struct.pack("l", 0))
    except OSError:
        return None
    return bool(struct.unpack("l", flags)[0] & _FS_APPEND_FL)


class AnchorFile:
    """The auditor's file: JSON lines, opened O_APPEND (and fsynced) by the service, never rewritten."""

    def __init__(self, path: Path, zone_id: str) -> None:
        self.path = path
        self.name = f"anchor file {path}"
        self._zone_id = zone_id
        self._fd: int | None = None
        self._offset = 0
        self._partial = b""
        self._recent: list[Checkpoint] = []
        self._newest: Checkpoint | None = None
        self._lock = asyncio.Lock()

    def open(self) -> None:
        """Opens the file for appending (creating it, mode 0640); fails with what to do."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as error:
            raise AnchorError(
                f"the audit anchor file {self.path} cannot be opened for appending ({error.strerror}): "
                "give the service a volume of its own there (ANPR_AUDIT_ANCHOR_FILE)"
            ) from error
        size = os.fstat(fd).st_size
        if size:
            # A line cut by a crash stays a line of its own, never the start of the next anchor.
            with self.path.open("rb") as handle:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    os.write(fd, b"\n")
        self._fd = fd
        if append_only(self.path) is False:
            log.warning(
                "the audit anchor file %s is not append-only: `chattr +a` it (as root) so that no "
                "one, the service included, can rewrite it",
                self.path,
            )

    async def append(self, checkpoint: Checkpoint) -> None:
        if self._fd is None:
            self.open()
        fd = self._fd
        assert fd is not None  # noqa: S101 - opened above
        line = anchor_line(checkpoint, self._zone_id).encode()

        def write() -> None:
            os.write(fd, line)  # one write of one line: O_APPEND keeps lines whole
            os.fsync(fd)

        await asyncio.to_thread(write)

    def _lines(self) -> Iterable[str]:
        try:
            with self.path.open("rb") as handle:
                for raw in handle:
                    if raw.endswith(b"\n"):
                        yield raw.decode("utf-8", errors="replace")
        except FileNotFoundError:
            return

    def _parse(self, lines: Iterable[str]) -> list[Checkpoint]:
        found = []
        for line in lines:
            if not line.strip():
                continue
            try:
                found.extend(read_anchor_lines([line], self.name, self._zone_id))
            except AnchorError as error:
                # A crash's cut line, or something appended by hand: it vouches for nothing.
                log.warning("skipping an unreadable line of %s: %s", self.path, error)
        return found

    async def read(self, after_seq: int = 0, last_seq: int | None = None) -> list[Checkpoint]:
        def scan() -> list[Checkpoint]:
            return [
                c
                for c in self._parse(self._lines())
                if c.seq > after_seq and (last_seq is None or c.seq <= last_seq)
            ]

        return await asyncio.to_thread(scan)

    async def _follow(self) -> None:
        """Reads what was appended since the last call (by this process or another replica)."""

        def read_new() -> tuple[bytes, int]:
            try:
                with self.path.open("rb") as handle:
                    handle.seek(self._offset)
                    data = handle.read()
            except FileNotFoundError:
                return b"", self._offset
            return data, self._offset + len(data)

        data, self._offset = await asyncio.to_thread(read_new)
        data = self._partial + data
        complete, _, self._partial = data.rpartition(b"\n")
        if complete:
            added = await asyncio.to_thread(
                self._parse, complete.decode("utf-8", errors="replace").splitlines()
            )
            self._recent.extend(added)
            self._newest = newest([self._newest, *added])

    async def newest(self) -> Checkpoint | None:
        async with self._lock:
            await self._follow()
            return self._newest

    async def since(self, after_seq: int) -> list[Checkpoint]:
        async with self._lock:
            await self._follow()
            self._recent = [c for c in self._recent if c.seq > after_seq]
            return list(self._recent)

    async def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
