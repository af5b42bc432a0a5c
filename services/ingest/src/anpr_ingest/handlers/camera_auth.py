"""Which registered camera a vendor push comes from: its credential (Basic, Digest, or its key alone)
checked against the register, the camera as itself only, registered for that vendor's format."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from anpr_ingest.domain.camera_auth import (
    NONCE_LIFETIME_S,
    Credential,
    DigestCredential,
    DigestSecrets,
    DigestVerdict,
    KeyCredential,
    challenges,
    check_digest,
    new_nonce,
)
from anpr_ingest.domain.cameras import Camera, CameraKind, CameraStatus, key_matches
from anpr_ingest.domain.errors import (
    CameraChallenged,
    CameraRetired,
    CredentialOfAnotherCamera,
    NotThisVendor,
    RegisterUnavailable,
    Unavailable,
    UnknownCamera,
)
from anpr_ingest.domain.vendors import Vendor
from anpr_ingest.handlers.intake import counted
from anpr_ingest.handlers.ports import CameraLookup


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Challenger:
    """Makes the nonces of Digest challenges; the clock and the randomness are its to be given."""

    lifetime_s: float = NONCE_LIFETIME_S
    clock_ms: Callable[[], int] = field(default=_now_ms)
    random: Callable[[int], bytes] = field(default=secrets.token_bytes)

    def refuse(self, reason: str, message: str, *, stale: bool = False) -> CameraChallenged:
        return CameraChallenged(
            reason, message, challenges(new_nonce(self.clock_ms(), self.random(16)), stale=stale)
        )


@dataclass(frozen=True)
class WhoSends:
    """What a push says about who sends it."""

    vendor: Vendor
    path_camera: str | None  # None on Dahua's fixed paths: the credential's user names the camera
    credential: Credential | None
    request_path: str  # what a Digest response's uri is checked against


async def authenticate_vendor_camera(cameras: CameraLookup, challenger: Challenger, who: WhoSends) -> Camera:
    credential = who.credential
    if credential is None:
        raise counted(
            challenger.refuse(
                "no_key",
                "authenticate with HTTP Basic or Digest (user: the camera id, password: its key), "
                "or send the key in the X-Camera-Key header",
            )
        )
    if isinstance(credential, KeyCredential):
        if who.path_camera is None:
            raise counted(
                challenger.refuse(
                    "no_key", "on this path the camera is named by its user: use Basic or Digest"
                )
            )
        camera_id = who.path_camera
    else:
        camera_id = credential.user
        if not camera_id:
            raise counted(challenger.refuse("bad_key", "the credential names no user (the camera id)"))
        if who.path_camera is not None and camera_id != who.path_camera:
            raise counted(CredentialOfAnotherCamera(camera_id, who.path_camera))
    camera = await _registered(cameras, camera_id)
    _check_credential(challenger, camera, credential, who.request_path)
    if camera.status == CameraStatus.RETIRED.value:
        raise counted(CameraRetired(camera_id))
    if camera.kind != CameraKind.SMART.value or camera.vendor != who.vendor.value:
        raise counted(NotThisVendor(camera_id, camera.vendor, who.vendor.value))
    return camera


async def _registered(cameras: CameraLookup, camera_id: str) -> Camera:
    try:
        camera = await cameras.get(camera_id)
    except RegisterUnavailable as error:
        raise Unavailable("the camera register did not answer, so nothing was stored") from error
    if camera is None:
        raise counted(UnknownCamera(camera_id))
    return camera


def _check_credential(
    challenger: Challenger, camera: Camera, credential: Credential, request_path: str
) -> None:
    wrong = (
        f"the credential is not valid for camera {camera.camera_id}; "
        "ask the administrator for the current key"
    )
    if isinstance(credential, DigestCredential):
        _check_digest(challenger, camera, credential, request_path, wrong)
        return
    sent = credential.key if isinstance(credential, KeyCredential) else credential.password
    if not sent or not key_matches(sent, camera.api_key_hash):
        raise counted(challenger.refuse("bad_key", wrong))


def _check_digest(
    challenger: Challenger, camera: Camera, credential: DigestCredential, request_path: str, wrong: str
) -> None:
    stored = DigestSecrets(camera.api_key_hash, camera.digest_ha1_md5, camera.digest_ha1_sha256)
    if camera.api_key_hash and not (stored.ha1_md5 or stored.ha1_sha256):
        raise counted(
            challenger.refuse(
                "no_digest",
                f"camera {camera.camera_id}'s key was made before Digest was offered: rotate it "
                f"(POST /v1/cameras/{camera.camera_id}/key) to use Digest, or use Basic",
            )
        )
    now_ms = challenger.clock_ms()
    verdict = check_digest(credential, stored, request_path, now_ms, lifetime_s=challenger.lifetime_s)
    if verdict is DigestVerdict.STALE:
        raise counted(
            challenger.refuse("stale_nonce", "the Digest nonce has expired; answer the new one", stale=True)
        )
    if verdict is not DigestVerdict.VALID:
        raise counted(challenger.refuse("bad_key", wrong))
