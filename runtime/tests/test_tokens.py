"""Token verification (issue 12, item 1; RFC 8725 "JWT Best Current Practices"): only tokens signed with an
asymmetric algorithm by a key of the configured issuer, for our audience, not expired and not living longer than
allowed, are accepted; everything else is 401. Keys from a JWKS URL (as an OpenID Connect issuer such as Keycloak
publishes them), a JWKS file, or the development issuer's JWKS. No database: the shell is asked through ASGI."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import APIRouter, FastAPI
from psycopg_pool import ConnectionPool

from edms_runtime.auth import CurrentPrincipal, dev_jwks, ensure_dev_keys, issue_token
from edms_runtime.http import ServiceParts, create_app
from edms_runtime.settings import PlatformSettings

ISSUER = "https://sso.example/realms/edms"
#: Requests the stand-in issuer answered.
FETCHES: list[str] = []


def _app(settings: PlatformSettings) -> FastAPI:
    parts = ServiceParts(name="shell", settings=settings, pool=ConnectionPool(settings.database_url, open=False))
    router = APIRouter()

    @router.get("/me")
    def me(principal: CurrentPrincipal) -> dict[str, Any]:
        return {"sub": principal.sub, "org": principal.org, "roles": sorted(principal.roles)}

    return create_app(parts, [router], title="t", description="t")


def _get(app: FastAPI, token: str) -> httpx.Response:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.get("/me", headers={"Authorization": f"Bearer {token}"})

    return asyncio.run(call())


def _settings(tmp_path: Path, **overrides: Any) -> PlatformSettings:
    return PlatformSettings(data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none", **overrides)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "ivanov", "org": "region", "roles": ["clerk"], "iss": ISSUER, "aud": "edms", "iat": now}
    claims["exp"] = now + 300
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.fixture(scope="module")
def issuer_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(issuer_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """A stand-in for an OpenID Connect issuer's `jwks_uri`: a real HTTP server publishing the key set."""
    body = json.dumps(dev_jwks(issuer_key.public_key())).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            FETCHES.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/realms/edms/protocol/openid-connect/certs"
    server.shutdown()


def _kid(key: rsa.RSAPrivateKey) -> str:
    return str(dev_jwks(key.public_key())["keys"][0]["kid"])


def _signed(key: rsa.RSAPrivateKey, claims: dict[str, Any], **headers: Any) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": _kid(key), **headers})


def test_a_token_of_an_oidc_issuer_from_its_jwks_url_is_accepted(
    tmp_path: Path, issuer_key: rsa.RSAPrivateKey, jwks_url: str
) -> None:
    app = _app(_settings(tmp_path, jwks_url=jwks_url, jwt_issuer=ISSUER))
    keycloak_style = _claims(roles=None, realm_access={"roles": ["head"]})
    response = _get(app, _signed(issuer_key, keycloak_style))
    assert response.status_code == 200, response.text
    assert response.json() == {"sub": "ivanov", "org": "region", "roles": ["head"]}


def _refused(app: FastAPI, token: str, reason: str) -> None:
    response = _get(app, token)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert reason in response.json()["detail"], response.json()


def test_forged_expired_none_hmac_and_foreign_tokens_are_refused(
    tmp_path: Path, issuer_key: rsa.RSAPrivateKey, jwks_url: str
) -> None:
    app = _app(_settings(tmp_path, jwks_url=jwks_url, jwt_issuer=ISSUER))
    good = _signed(issuer_key, _claims())
    assert _get(app, good).status_code == 200
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged_payload = _b64(json.dumps({**claims, "org": "other-org"}).encode())
    _refused(app, f"{header}.{forged_payload}.{signature}", "Signature verification failed")
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _refused(app, jwt.encode(_claims(), impostor, algorithm="RS256", headers={"kid": _kid(issuer_key)}), "Signature")
    _refused(app, _signed(issuer_key, _claims(iat=int(time.time()) - 700, exp=int(time.time()) - 400)), "expired")
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": _kid(issuer_key)}).encode())
    _refused(app, f"{none_header}.{payload}.", "algorithm 'none' is not accepted")
    public_pem = issuer_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hmac_header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": _kid(issuer_key)}).encode())
    signing_input = f"{hmac_header}.{payload}".encode()
    hmac_signature = _b64(hmac.new(public_pem, signing_input, hashlib.sha256).digest())
    _refused(app, f"{hmac_header}.{payload}.{hmac_signature}", "algorithm 'HS256' is not accepted")
    _refused(app, _signed(issuer_key, _claims(aud="another-app")), "Audience doesn't match")
    _refused(app, _signed(issuer_key, _claims(iss="https://evil.example")), "Invalid issuer")
    _refused(app, _signed(issuer_key, _claims(exp=int(time.time()) + 100 * 365 * 86400)), "lives longer than")
    _refused(app, _signed(issuer_key, _claims(org=None)), "claim 'org' is missing")
    _refused(app, _signed(issuer_key, _claims(), kid="unknown-key"), "the issuer has no signing key")
    _refused(app, "not-a-token", "invalid token")


def test_a_key_is_used_only_with_its_own_algorithm(tmp_path: Path) -> None:
    """An EC key published for ES256 does not verify an RS256 token, nor the other way round."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    jwk.update({"kid": "ec-1", "alg": "ES256"})
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [jwk, {"kty": "oct", "k": _b64(b"s" * 32), "kid": "hs", "alg": "HS256"}]}))
    app = _app(_settings(tmp_path, jwks_file=jwks_file, jwt_issuer=ISSUER))
    assert _get(app, jwt.encode(_claims(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})).status_code == 200
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _refused(app, jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "ec-1"}), "its key is for ES256")
    _refused(app, jwt.encode(_claims(), "s" * 32, algorithm="HS256", headers={"kid": "hs"}), "not accepted")


def test_the_development_issuer_publishes_its_jwks_and_its_tokens_verify(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    token = issue_token(settings, user="clerk1", org="demo-region", roles=["clerk"], unit="01")
    assert (
        jwt.get_unverified_header(token)["kid"]
        == json.loads((ensure_dev_keys(settings) / "jwks.json").read_text())["keys"][0]["kid"]
    )
    app = _app(settings)
    assert _get(app, token).json()["org"] == "demo-region"

    async def jwks() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.get("/.well-known/jwks.json")

    published = asyncio.run(jwks()).json()
    assert [key["alg"] for key in published["keys"]] == ["RS256"]
    assert "d" not in published["keys"][0]  # the public half only
    _refused(app, issue_token(settings, user="x", org="o", roles=[], ttl_seconds=100 * 365 * 86400), "longer")


def test_made_up_key_ids_do_not_make_every_request_fetch_the_issuers_keys(
    tmp_path: Path, issuer_key: rsa.RSAPrivateKey, jwks_url: str
) -> None:
    app = _app(_settings(tmp_path, jwks_url=jwks_url, jwt_issuer=ISSUER))
    assert _get(app, _signed(issuer_key, _claims())).status_code == 200
    before = len(FETCHES)
    for i in range(10):
        _refused(app, _signed(issuer_key, _claims(sub=f"u{i}"), kid=f"made-up-{i}"), "no signing key with id")
    assert len(FETCHES) - before <= 1  # one fetch for a key id it did not know, then none for a minute
