"""Bearer JWT authentication (`sub`, `org`, `unit`, `roles`) and the development token issuer.

Services only verify (RS256 with a public key); the local stack owns a key pair under .edms/dev-issuer/ and
`edms token` signs with it. A real deployment points EDMS_JWT_PUBLIC_KEY at its identity provider's key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edms_runtime.settings import PlatformSettings

#: Who may read a card with an access restriction mark (ДСП): only those admitted to it — Regulation on handling
#: official information of limited distribution (Decree of the Government of the RF No. 1233 of 03.11.1994).
RESTRICTED_READER_ROLES = ("dsp_reader", "admin")


@dataclass(frozen=True)
class Principal:
    sub: str
    org: str
    unit: str | None
    roles: frozenset[str]

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def reads_restricted(self) -> bool:
        return self.has_role(*RESTRICTED_READER_ROLES)

    def may_read(self, org: str, access: str | None) -> bool:
        """Own organization's cards; restricted ones only when admitted (the same rule search applies in queries)."""
        return org == self.org and (access is None or self.reads_restricted)


def issuer_dir(settings: PlatformSettings) -> Path:
    return settings.data_dir / "dev-issuer"


def ensure_dev_keys(settings: PlatformSettings) -> Path:
    """Create the development issuer's key pair once; later runs reuse it so old tokens stay valid."""
    directory = issuer_dir(settings)
    private_path = directory / "private.pem"
    if not private_path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        private_path.chmod(0o600)
        (directory / "public.pem").write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    return directory


def issue_token(
    settings: PlatformSettings,
    *,
    user: str,
    org: str,
    roles: list[str],
    unit: str | None = None,
    ttl_seconds: int = 12 * 3600,
) -> str:
    private_key = (ensure_dev_keys(settings) / "private.pem").read_bytes()
    now = int(time.time())
    claims = {
        "sub": user,
        "org": org,
        "unit": unit,
        "roles": roles,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, private_key, algorithm="RS256")


def load_public_key(settings: PlatformSettings) -> str | None:
    configured = settings.jwt_public_key
    if configured:
        if configured.lstrip().startswith("-----BEGIN"):
            return configured
        return Path(configured).read_text()
    candidate = issuer_dir(settings) / "public.pem"
    return candidate.read_text() if candidate.exists() else None


class Authenticator:
    """Verifies bearer tokens; the public key is read lazily so a service may start before the issuer."""

    #: Verified tokens kept (until they expire) so a client's every request does not pay the RSA check again.
    CACHE_SIZE = 10_000

    def __init__(self, settings: PlatformSettings) -> None:
        self.settings = settings
        self._key: rsa.RSAPublicKey | None = None
        self._verified: dict[str, tuple[Principal, float]] = {}

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        principal, expires = self._decode(token)
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _decode(self, token: str) -> tuple[Principal, float]:
        if self._key is None:
            pem = load_public_key(self.settings)
            if pem is not None:
                key = serialization.load_pem_public_key(pem.encode())
                if not isinstance(key, rsa.RSAPublicKey):
                    raise _unauthorized("the token verification key must be an RSA public key (RS256)")
                self._key = key
        if self._key is None:
            raise _unauthorized("no token verification key is configured (EDMS_JWT_PUBLIC_KEY)")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["RS256"],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={"require": ["sub", "exp"]},
            )
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"invalid token: {exc}") from None
        org = claims.get("org")
        roles = claims.get("roles") or []
        if not isinstance(org, str) or not org:
            raise _unauthorized("invalid token: claim 'org' is missing")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise _unauthorized("invalid token: claim 'roles' must be a list of strings")
        unit = claims.get("unit")
        principal = Principal(
            sub=str(claims["sub"]), org=org, unit=unit if isinstance(unit, str) else None, roles=frozenset(roles)
        )
        return principal, float(claims["exp"])


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("a bearer token is required (see `edms token --help`)")
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator.verify(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(principal: Principal, *roles: str) -> None:
    if not principal.has_role(*roles):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"one of the roles {sorted(roles)} is required")
