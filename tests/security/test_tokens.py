"""Bearer tokens without sockets: the pure verify function, the authenticator, and the auth settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from focalpoint_upload.config import ConfigError, load_settings
from focalpoint_upload.frontdoor.auth import (
    ANONYMOUS,
    Authenticator,
    AuthError,
    Keys,
    Principal,
    exposure_problem,
    loopback,
    mint,
    verify,
)

SECRET = "test-secret-" + "x" * 32
NOW = 1_800_000_000.0


def token(claims: dict[str, Any], key: Any = SECRET, alg: str = "HS256") -> str:
    return jwt.encode({"sub": "alice", "exp": int(NOW + 600), **claims}, key, algorithm=alg)


def reason(tok: str, keys: Keys | None = None, now: float = NOW) -> AuthError:
    with pytest.raises(AuthError) as info:
        verify(tok, keys or Keys(secret=SECRET), now)
    return info.value


def pem(private: Any) -> str:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_a_good_token_names_its_user() -> None:
    p = verify(token({"aud": "focalpoint-upload", "max_bytes": 1000}), Keys(secret=SECRET), NOW)
    assert p == Principal(key="u:alice", subject="alice", max_bytes=1000)
    assert not p.anonymous and p.limit_owner == "u:alice"
    assert verify(token({}), Keys(secret=SECRET), NOW).max_bytes is None  # aud and max_bytes are optional


def test_owner_keys_are_encoded_and_never_anonymous() -> None:
    assert verify(token({"sub": "a:b/c d"}), Keys(secret=SECRET), NOW).key == "u:a%3Ab%2Fc%20d"
    assert verify(token({"sub": "anonymous"}), Keys(secret=SECRET), NOW).key != ANONYMOUS.key


def test_expired() -> None:
    err = reason(token({"exp": int(NOW - 3600)}))
    assert (err.code, err.error) == ("token_expired", "invalid_token")
    assert verify(token({"exp": int(NOW - 10)}), Keys(secret=SECRET), NOW)  # within the clock-skew leeway


def test_wrong_signature() -> None:
    err = reason(token({}, key="another-secret-" + "y" * 32))
    assert err.code == "invalid_token" and "signature" in err.description
    assert 'error="invalid_token"' in err.challenge()


def test_wrong_audience() -> None:
    assert "aud" in reason(token({"aud": "someone-else"})).description
    assert verify(token({"aud": ["x", "focalpoint-upload"]}), Keys(secret=SECRET), NOW).subject == "alice"


@pytest.mark.parametrize(("claims", "what"), [
    ({"sub": None}, "'sub'"), ({"exp": None}, "'exp'"), ({"sub": ""}, "sub"), ({"sub": "a\nb"}, "sub"),
    ({"sub": "x" * 257}, "sub"), ({"max_bytes": 0}, "max_bytes"), ({"max_bytes": "9"}, "max_bytes"),
    ({"nbf": int(NOW + 3600)}, "not valid yet"),
])
def test_bad_claims(claims: dict[str, Any], what: str) -> None:
    assert what in reason(token(claims)).description


def test_not_a_jwt_and_unsigned_tokens() -> None:
    assert reason("not-a-token").code == "invalid_token"
    unsigned = jwt.encode({"sub": "alice", "exp": int(NOW + 600)}, None, algorithm="none")
    assert "algorithm" in reason(unsigned).description


def test_rs256_and_es256_with_the_public_key() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    for private, alg in ((rsa_key, "RS256"), (ec_key, "ES256")):
        keys = Keys.from_pem(None, pem(private))
        assert keys.public_alg == alg
        assert verify(token({}, key=private, alg=alg), keys, NOW).subject == "alice"
    # A token signed by another key of the right type, or HS256 with no secret configured, is refused.
    assert "signature" in reason(token({}, key=ec.generate_private_key(ec.SECP256R1()), alg="ES256"),
                                 Keys.from_pem(None, pem(ec_key))).description
    assert reason(token({}), Keys.from_pem(None, pem(ec_key))).code == "invalid_token"


def test_the_public_key_is_never_used_as_an_hmac_secret() -> None:
    public = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    # The classic algorithm-confusion forgery: an HS256 MAC keyed with the (public) PEM text.
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(b'{"sub":"mallory","exp":9999999999}')
    mac = hmac.new(public.encode(), signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + b64(mac)).decode()
    assert "algorithm" in reason(forged, Keys.from_pem(None, public)).description


def test_authenticator_off_is_the_anonymous_principal() -> None:
    off = Authenticator(None)
    assert not off.enabled
    assert off.principal_for(None, NOW) is ANONYMOUS
    assert off.principal_for("Bearer garbage", NOW) is ANONYMOUS


def test_authenticator_on_needs_a_bearer_token() -> None:
    on = Authenticator(Keys(secret=SECRET))
    for header in (None, "", "Basic YWxpY2U6cHc=", "Bearer"):
        with pytest.raises(AuthError) as info:
            on.principal_for(header, NOW)
        err = info.value
        if header == "Bearer":
            assert err.code == "invalid_token"
        else:  # no credentials at all: RFC 6750 3.1, a challenge without an error code
            assert err.code == "auth_required" and err.error is None
            assert err.challenge() == 'Bearer realm="focalpoint-upload"'
    assert on.principal_for("bearer " + token({}), NOW).subject == "alice"


def test_mint_makes_what_verify_accepts() -> None:
    tok = mint(SECRET, "bob", 3600, NOW, max_bytes=5)
    assert verify(tok, Keys(secret=SECRET), NOW + 3500) == Principal.user("bob", 5)
    assert reason(tok, now=NOW + 3700).code == "token_expired"
    assert jwt.decode(tok, SECRET, algorithms=["HS256"], audience="focalpoint-upload",
                      options={"verify_exp": False, "verify_iat": False})["aud"] == "focalpoint-upload"


def test_auth_settings(tmp_path: Path) -> None:
    assert not load_settings({}).auth_enabled
    assert load_settings({"FOCALPOINT_AUTH_SECRET": SECRET}).auth_enabled
    assert SECRET not in repr(load_settings({"FOCALPOINT_AUTH_SECRET": SECRET}))
    with pytest.raises(ConfigError, match="FOCALPOINT_AUTH_SECRET: is shorter than 32 bytes"):
        load_settings({"FOCALPOINT_AUTH_SECRET": "short"})
    with pytest.raises(ConfigError, match="FOCALPOINT_AUTH: is none, but a secret"):
        load_settings({"FOCALPOINT_AUTH_SECRET": SECRET, "FOCALPOINT_AUTH": "none"})
    with pytest.raises(ConfigError, match="FOCALPOINT_AUTH=required"):
        load_settings({"FOCALPOINT_AUTH": "required"})
    key = pem(ec.generate_private_key(ec.SECP256R1()))
    path = tmp_path / "app.pem"
    path.write_text(key)
    assert load_settings({"FOCALPOINT_AUTH_PUBLIC_KEY": str(path)}).auth_public_key == key.strip()
    assert load_settings({"FOCALPOINT_AUTH_PUBLIC_KEY": key}).auth_enabled
    with pytest.raises(ConfigError, match="P-256"):
        load_settings({"FOCALPOINT_AUTH_PUBLIC_KEY": pem(ec.generate_private_key(ec.SECP384R1()))})
    with pytest.raises(ConfigError, match="not a PEM public key"):
        load_settings({"FOCALPOINT_AUTH_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"})
    with pytest.raises(ConfigError, match="neither PEM text nor a readable PEM file"):
        load_settings({"FOCALPOINT_AUTH_PUBLIC_KEY": str(tmp_path / "missing.pem")})


def test_loopback_and_exposure() -> None:
    assert all(loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"))
    assert not any(loopback(h) for h in ("0.0.0.0", "::", "10.1.2.3", "example.com", ""))
    assert exposure_problem(load_settings({"FOCALPOINT_HOST": "127.0.0.1"})) is None
    assert "FOCALPOINT_AUTH=none" in (exposure_problem(load_settings({"FOCALPOINT_HOST": "0.0.0.0"})) or "")
    assert exposure_problem(load_settings({"FOCALPOINT_HOST": "0.0.0.0", "FOCALPOINT_AUTH": "none"})) is None
    assert exposure_problem(load_settings({"FOCALPOINT_HOST": "0.0.0.0", "FOCALPOINT_AUTH_SECRET": SECRET})) is None
