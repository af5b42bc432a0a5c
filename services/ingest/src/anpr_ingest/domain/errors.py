"""What ingest refuses, and why, in words the camera or the admin can act on; and the failures its
ports report. The entrypoints answer each refusal as problem+json (anpr_ingest.entrypoints.problems)."""

from __future__ import annotations

from typing import Any


class IngestRefusal(Exception):  # noqa: N818 - a refusal is an answer, not a failure of ours
    """Something ingest will not do; the message says why."""


class RejectedFrame(IngestRefusal, ValueError):
    """A frame ingest will not accept; `reason` is a short metric label, the message tells the camera why."""

    def __init__(self, reason: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


# --- the register (admins) -----------------------------------------------------------------------


class CameraNotFound(IngestRefusal):
    def __init__(self, camera_id: str) -> None:
        super().__init__(f"camera {camera_id} is not registered; GET /v1/cameras lists them")


class CameraExists(IngestRefusal):
    def __init__(self, camera_id: str) -> None:
        super().__init__(f"camera {camera_id} is already registered")


class InvalidCameraChange(IngestRefusal, ValueError):
    """A change that would leave the camera's record inconsistent; the message says what to send."""


# --- the camera side -----------------------------------------------------------------------------


class CameraRefused(IngestRefusal):
    """A camera's call refused for who it is (its key, its registration, its state); `reason` is
    the metric label (anpr_frames_rejected_total)."""

    reason = "refused"


class NoCameraKey(CameraRefused):
    reason = "no_key"

    def __init__(self) -> None:
        super().__init__("the X-Camera-Key header is required")


class UnknownCamera(CameraRefused):
    reason = "unknown_camera"

    def __init__(self, camera_id: str) -> None:
        super().__init__(f"camera {camera_id} is not registered")


class WrongCameraKey(CameraRefused):
    reason = "bad_key"

    def __init__(self, camera_id: str) -> None:
        super().__init__(
            f"the key is not valid for camera {camera_id}; ask the administrator for the current key"
        )


class CameraRetired(CameraRefused):
    reason = "retired"

    def __init__(self, camera_id: str) -> None:
        super().__init__(f"camera {camera_id} is retired")


class NotASmartCamera(CameraRefused):
    reason = "not_smart"

    def __init__(self, camera_id: str) -> None:
        super().__init__(
            f"camera {camera_id} is registered as a frame camera; it sends frames to /v1/frames, "
            "or an admin registers it as kind smart"
        )


class CameraChallenged(CameraRefused):
    """401 with the ways to authenticate (WWW-Authenticate challenges): no credential, one that does
    not hold, or a Digest nonce past its lifetime (`stale`)."""

    def __init__(self, reason: str, message: str, challenges: tuple[str, ...]) -> None:
        super().__init__(message)
        self.reason = reason
        self.challenges = challenges


class CredentialOfAnotherCamera(CameraRefused):
    reason = "other_camera"

    def __init__(self, credential_camera: str, path_camera: str) -> None:
        super().__init__(
            f"the credential is camera {credential_camera}'s, the path names camera {path_camera}: "
            "a camera sends as itself only"
        )


class NotThisVendor(CameraRefused):
    reason = "wrong_vendor"

    def __init__(self, camera_id: str, registered: str, sent: str) -> None:
        feed = f"a {registered} camera" if registered else "a camera of the platform's own API"
        super().__init__(
            f"camera {camera_id} is registered as {feed}, not as a {sent} camera (kind smart, vendor "
            f"{sent}); an admin changes its vendor, or the camera posts to its own path"
        )


class Unavailable(IngestRefusal):
    """A dependency (the register, the dedupe table, the broker) did not answer; it will again, so
    the caller sends the same request after a while. `extensions` go into the answer as they are
    (the event id a resend will have, whether anything was stored)."""

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.extensions = extensions


# --- what the ports report -----------------------------------------------------------------------


class RegisterUnavailable(Exception):  # noqa: N818 - a state, answered with 503
    """The camera register did not answer."""


class DedupeUnavailable(Exception):  # noqa: N818 - like BusUnavailable: a state, answered with 503
    """The dedupe table did not answer, so nothing was published."""
