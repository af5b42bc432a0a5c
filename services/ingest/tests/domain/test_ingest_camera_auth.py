"""Camera credentials of vendor pushes: Basic, Digest (RFC 7616's own test vectors for the hashing,
then our stateless nonces: fresh, stale, forged, replayed elsewhere) and the key alone."""

from __future__ import annotations

import base64

import pytest

from anpr_ingest.domain.camera_auth import (
    REALM,
    BasicCredential,
    DigestCredential,
    DigestSecrets,
    DigestVerdict,
    challenges,
    check_digest,
    ha1_of,
    new_nonce,
    parse_authorization,
    response_for,
    secrets_of,
)
from anpr_ingest.domain.cameras import hash_api_key

# RFC 7616, section 3.9.1: Mufasa, "Circle of Life", http-auth@example.org, GET /dir/index.html.
RFC = {
    "realm": "http-auth@example.org",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    "nc": "00000001",
    "uri": "/dir/index.html",
}


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_digest_responses_match_rfc_7616s_examples(algorithm: str, expected: str) -> None:
    ha1 = ha1_of(algorithm, "Mufasa", RFC["realm"], "Circle of Life")
    assert (
        response_for(algorithm, ha1, RFC["nonce"], RFC["nc"], RFC["cnonce"], "auth", "GET", RFC["uri"])
        == expected
    )


NOW_MS = 1_780_000_000_000
CAMERA = "cam-dahua-1"
KEY = "cam_secret-key"
PATH = "/NotificationInfo/TollgateInfo"


def digest_header(
    nonce: str,
    *,
    key: str = KEY,
    algorithm: str = "MD5",
    uri: str = PATH,
    qop: str = "auth",
    user: str = CAMERA,
) -> str:
    ha1 = ha1_of(algorithm, user, REALM, key)
    response = response_for(algorithm, ha1, nonce, "00000001", "0a4f113b", qop, "POST", uri)
    qop_part = f', qop={qop}, nc=00000001, cnonce="0a4f113b"' if qop else ""
    return (
        f'Digest username="{user}", realm="{REALM}", nonce="{nonce}", uri="{uri}", '
        f'algorithm={algorithm}, response="{response}"{qop_part}'
    )


def verdict(header: str, now_ms: int = NOW_MS, path: str = PATH) -> DigestVerdict:
    credential = parse_authorization(header, "post")
    assert isinstance(credential, DigestCredential)
    return check_digest(credential, secrets_of(CAMERA, KEY), path, now_ms)


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "MD5-sess", "SHA-256-sess"])
def test_a_camera_answering_a_fresh_nonce_with_its_key_is_valid(algorithm: str) -> None:
    nonce = new_nonce(NOW_MS, bytes(16))
    assert verdict(digest_header(nonce, algorithm=algorithm)) is DigestVerdict.VALID


def test_rfc_2069_digest_without_qop_is_valid_too() -> None:
    assert verdict(digest_header(new_nonce(NOW_MS, bytes(16)), qop="")) is DigestVerdict.VALID


def test_an_expired_nonce_is_stale_and_a_wrong_key_or_a_made_up_nonce_invalid() -> None:
    nonce = new_nonce(NOW_MS, bytes(16))
    assert verdict(digest_header(nonce), now_ms=NOW_MS + 301_000) is DigestVerdict.STALE
    assert verdict(digest_header(nonce, key="cam_other")) is DigestVerdict.INVALID
    assert verdict(digest_header("bm90LW91cnM")) is DigestVerdict.INVALID  # right hash, not our nonce
    future = new_nonce(NOW_MS + 3_600_000, bytes(16))
    assert verdict(digest_header(future)) is DigestVerdict.INVALID


def test_a_digest_for_another_resource_is_invalid_here_and_a_prefix_may_differ() -> None:
    nonce = new_nonce(NOW_MS, bytes(16))
    assert verdict(digest_header(nonce, uri="/NotificationInfo/KeepAlive")) is DigestVerdict.INVALID
    # ingest mounted under /ingest (the embedded platform): the camera hashed the path it sent.
    assert verdict(digest_header(nonce), path="/ingest" + PATH) is DigestVerdict.VALID
    absolute = "http://ingest.example:8080" + PATH
    assert verdict(digest_header(nonce, uri=absolute)) is DigestVerdict.VALID


def test_cameras_registered_before_digest_have_no_ha1_and_cannot_use_it() -> None:
    credential = parse_authorization(digest_header(new_nonce(NOW_MS, bytes(16))), "POST")
    assert isinstance(credential, DigestCredential)
    old = DigestSecrets(hash_api_key(KEY), "", "")
    assert check_digest(credential, old, PATH, NOW_MS) is DigestVerdict.INVALID


def test_basic_and_other_schemes() -> None:
    basic = "Basic " + base64.b64encode(f"{CAMERA}:{KEY}".encode()).decode()
    assert parse_authorization(basic, "POST") == BasicCredential(CAMERA, KEY)
    assert parse_authorization("Basic !!!", "POST") == BasicCredential("", "")
    assert parse_authorization("Bearer eyJ...", "POST") is None
    assert parse_authorization(None, "POST") is None


def test_secrets_are_the_keys_hash_and_its_ha1s_and_revocation_clears_all() -> None:
    secrets = secrets_of(CAMERA, KEY)
    assert secrets.api_key_hash == hash_api_key(KEY)
    assert secrets.ha1_md5 == ha1_of("MD5", CAMERA, REALM, KEY)
    assert len(secrets.ha1_sha256) == 64
    assert DigestSecrets.revoked() == DigestSecrets("", "", "")


def test_challenges_offer_digest_sha256_md5_then_basic_with_staleness() -> None:
    offered = challenges("n0nce", stale=True)
    assert [c.split()[0] for c in offered] == ["Digest", "Digest", "Basic"]
    assert "algorithm=SHA-256" in offered[0] and "algorithm=MD5" in offered[1]
    assert all("stale=true" in c for c in offered[:2])
