"""Bearer JWT authentication (OpenID Connect access tokens: `sub`, `org`, `unit`, `roles`) and the development
token issuer.

Services only verify, with PyJWT: the keys come from an issuer's JWKS (`EDMS_JWKS_URL`, e.g. Keycloak's, or
`EDMS_JWKS_FILE`), or a PEM public key (`EDMS_JWT_PUBLIC_KEY`); issuer, audience, expiry, issue time, the longest
lifetime allowed and the algorithm (asymmetric only, and the one the key is for) are checked. The local stack owns
a key pair under .edms/dev-issuer/, `edms token` signs with it, and its JWKS (`jwks.json` there) is what the
services verify with when nothing else is configured; each service also serves it at `/.well-known/jwks.json`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt.algorithms import RSAAlgorithm

from edms_runtime import access as access_facts
from edms_runtime.audit import note_refusal
from edms_runtime.errors import NotFound
from edms_runtime.ratelimit import Buckets, retry_after
from edms_runtime.settings import PlatformSettings

log = logging.getLogger(__name__)

#: Who may read a card with an access restriction mark (ДСП): only those admitted to it — Regulation on handling
#: official information of limited distribution (Decree of the Government of the RF No. 1233 of 03.11.1994).
RESTRICTED_READER_ROLES = ("dsp_reader", "admin")


@dataclass(frozen=True)
class Principal:
    sub: str
    org: str
    unit: str | None
    roles: frozenset[str]
    #: Whom the principal acts for today by a delegation in the directory (an acting head: врио).
    acting_for: tuple[str, ...] = ()

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def permits(self, permission: str) -> bool:
        """Whether one of the principal's roles has `permission` (`service:action`) in the role table
        (edms_runtime.roles, roles as data)."""
        from edms_runtime.roles import table

        return table().permits(self.roles, permission)

    @property
    def reads_restricted(self) -> bool:
        """Admitted to documents with a restriction mark by role (`restricted.read` in the role table)."""
        return self.permits("*:restricted.read")

    def may_read(self, org: str, access: str | None, document_id: uuid.UUID | str | None = None) -> bool:
        """Own organization's cards; restricted ones only when admitted (the same rule search applies in queries).
        Given the document's id, the shared rule derived from events decides the rest (edms_runtime.access: those
        a ДСП document is for, explicit grants).

        A refusal is noted for the audit log of the request (edms_runtime.audit), whatever the endpoint answers."""
        if org == self.org and (access is None or self.reads_restricted):
            return True
        facts = access_facts.CURRENT.get()
        if (
            document_id is not None
            and facts is not None
            and facts.may_read(document_id, self.sub, self.org, self.unit, self.reads_restricted)
        ):
            return True
        if org != self.org:
            note_refusal(f"{self.sub}@{self.org} may not read a document of another organization")
        else:
            note_refusal(f"{self.sub} is not among those the document marked {access} is for")
        return False

    def read_condition(
        self, alias: str = "", document_column: str | None = None, *, participants: str | None = None
    ) -> tuple[str, dict[str, object]]:
        """`may_read` as a SQL condition on a table's `org` and `access` columns, with its parameters: lists,
        totals and facets are filtered inside the query, never page by page afterwards.

        `participants` names a text[] column of the logins a row names (addressees, executors, controllers, authors,
        recipients: search keeps one): they read it too, whatever its organization — a document addressed to them
        or that they work on. A restricted one (ДСП) still only when admitted, or when the shared rule derived from
        events lets them: naming the table's document id column (`document_column`) adds it (`access_may_read`,
        edms_runtime.access)."""
        prefix = f"{alias}." if alias else ""
        params: dict[str, object] = {
            "reader_org": self.org,
            "reader_admitted": self.reads_restricted,
            "reader_sub": self.sub,
        }
        mine = f"{prefix}org = %(reader_org)s"
        if participants:
            mine = f"({mine} OR {prefix}{participants} && ARRAY[%(reader_sub)s]::text[])"
        derived = ""
        if document_column is not None:
            # asked only of the marked rows the cheap tests leave, so a list costs a call per ДСП document, not per
            # row; a grant to someone of another organization shows by id, not in their lists
            derived = (
                f" OR access_may_read({prefix}{document_column}, %(reader_sub)s, %(reader_org)s, %(reader_unit)s, "
                "%(reader_admitted)s, current_date)"
            )
            params["reader_unit"] = self.unit
        condition = f"{mine} AND ({prefix}access IS NULL OR %(reader_admitted)s{derived})"
        return condition, params


class Readable(Protocol):
    """A document or what a service made of one (route, control card, filing), as the read rule sees it."""

    @property
    def org(self) -> str: ...

    @property
    def access(self) -> str | None: ...


ReadableT = TypeVar("ReadableT", bound=Readable)


def readable(principal: Principal, resource: ReadableT, *, or_raise: NotFound) -> ReadableT:
    """`resource` if the principal may read it (`Principal.may_read`), else `or_raise`.

    Every endpoint that shows a document-derived resource passes it through here, with the very error it raises
    for one that does not exist: a hidden resource answers the same 404 as a missing one, so its existence is not
    revealed (403 would reveal it).
    """
    document_id = getattr(resource, "document_id", None) or getattr(resource, "id", None)
    if not principal.may_read(resource.org, resource.access, document_id):
        raise or_raise
    return resource


def issuer_dir(settings: PlatformSettings) -> Path:
    return settings.data_dir / "dev-issuer"


#: Signature algorithms a token may use: asymmetric ones only. `none` signs nothing, and an HMAC algorithm (HS*)
#: would take the issuer's *public* key as its shared secret, so anyone could sign (RFC 8725, sections 2.1, 3.1).
ACCEPTED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def _key_id(public_key: rsa.RSAPublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")


def dev_jwks(public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    """The development issuer's JWKS (RFC 7517): its one RSA key, for RS256 only."""
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(public_key))
    jwk.update({"kid": _key_id(public_key), "alg": "RS256", "use": "sig"})
    return {"keys": [jwk]}


def ensure_dev_keys(settings: PlatformSettings) -> Path:
    """Create the development issuer's key pair once (later runs reuse it, so old tokens stay valid), and its
    JWKS beside it (`jwks.json`), which the services read, and serve at `/.well-known/jwks.json`."""
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
    jwks_path = directory / "jwks.json"
    if not jwks_path.exists():
        public = serialization.load_pem_public_key((directory / "public.pem").read_bytes())
        assert isinstance(public, rsa.RSAPublicKey)
        temporary = jwks_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(dev_jwks(public), indent=2))
        temporary.replace(jwks_path)  # services may read it at any moment: never half written
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
    """A token of the development issuer (`edms token`), signed RS256 with the key named by its `kid`."""
    directory = ensure_dev_keys(settings)
    private_key = serialization.load_pem_private_key((directory / "private.pem").read_bytes(), password=None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
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
    return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": _key_id(private_key.public_key())})


def load_public_key(settings: PlatformSettings) -> str | None:
    """The configured PEM public key (`EDMS_JWT_PUBLIC_KEY`: the PEM itself or a path to it), if any."""
    configured = settings.jwt_public_key
    if configured:
        if configured.lstrip().startswith("-----BEGIN"):
            return configured
        return Path(configured).read_text()
    return None


class KeySource:
    """The keys that verify tokens, each bound to the one algorithm it may verify (RFC 8725, section 3.1).

    A JWKS URL (an OpenID Connect issuer's `jwks_uri`: fetched by PyJWT's `PyJWKClient`, cached, fetched again for
    a key id it has not seen, so the issuer may rotate keys), a JWKS file (read again when it changes), a PEM public
    key, or else the development issuer's JWKS file. Symmetric keys in a JWKS are ignored.
    """

    def __init__(self, settings: PlatformSettings) -> None:
        self.settings = settings
        self._client = (
            jwt.PyJWKClient(settings.jwks_url, cache_jwk_set=True, lifespan=300, timeout=5)
            if settings.jwks_url
            else None
        )
        self._refetched = float("-inf")
        self._file_keys: list[jwt.PyJWK] = []
        self._file_stamp: tuple[Path, float] | None = None
        self._pem: Any = None

    @property
    def jwks_path(self) -> Path:
        return self.settings.jwks_file or issuer_dir(self.settings) / "jwks.json"

    def key_for(self, kid: str | None, algorithm: str) -> Any:
        """The verification key for a token's header, or `_unauthorized` naming why there is none."""
        if self._client is not None:
            if kid is None:
                raise _unauthorized("invalid token: no key id (kid) in its header")
            try:
                return self._checked(self._from_issuer(self._client, kid), algorithm)
            except jwt.PyJWKClientError as exc:
                raise _unauthorized(f"invalid token: {exc}") from None
        if self.settings.jwks_file is None and self.settings.jwt_public_key:
            return self._pem_key(algorithm)
        keys = [key for key in self._jwks_file() if kid is None or key.key_id == kid]
        if not keys:
            raise _unauthorized(f"invalid token: no verification key with id {kid!r} ({self.jwks_path})")
        if len(keys) > 1 and kid is None:
            raise _unauthorized("invalid token: no key id (kid) in its header, and the issuer has several keys")
        return self._checked(keys[0], algorithm)

    #: Seconds between fetches of the issuer's JWKS for key ids it does not know: tokens with made-up key ids
    #: must not make every request fetch it again.
    REFETCH_SECONDS = 60.0

    def _from_issuer(self, client: jwt.PyJWKClient, kid: str) -> jwt.PyJWK:
        known = client.match_kid(client.get_signing_keys(), kid)
        if known is None and time.monotonic() - self._refetched > self.REFETCH_SECONDS:
            self._refetched = time.monotonic()
            known = client.match_kid(client.get_signing_keys(refresh=True), kid)
        if known is None:
            raise _unauthorized(f"invalid token: the issuer has no signing key with id {kid!r}")
        return known

    @staticmethod
    def _checked(key: jwt.PyJWK, algorithm: str) -> Any:
        if key.algorithm_name != algorithm:
            raise _unauthorized(f"invalid token: its key is for {key.algorithm_name}, not {algorithm}")
        return key.key

    def _jwks_file(self) -> list[jwt.PyJWK]:
        path = self.jwks_path
        try:
            stamp = (path, path.stat().st_mtime)
        except FileNotFoundError:
            raise _unauthorized(f"no token verification keys: {path} does not exist (EDMS_JWKS_URL)") from None
        if stamp != self._file_stamp:
            keys = jwt.PyJWKSet.from_json(path.read_text()).keys
            self._file_keys = [key for key in keys if key.algorithm_name in ACCEPTED_ALGORITHMS]
            self._file_stamp = stamp
        return self._file_keys

    def _pem_key(self, algorithm: str) -> Any:
        if self._pem is None:
            pem = load_public_key(self.settings)
            assert pem is not None
            self._pem = serialization.load_pem_public_key(pem.encode())
        family = {rsa.RSAPublicKey: ("RS", "PS"), ec.EllipticCurvePublicKey: ("ES",)}
        prefixes = next((p for kind, p in family.items() if isinstance(self._pem, kind)), ())
        if not algorithm.startswith(prefixes):
            raise _unauthorized(f"invalid token: {algorithm} does not go with the configured public key")
        return self._pem


class Authenticator:
    """Verifies bearer tokens (OpenID Connect access tokens); keys are read lazily so a service may start first."""

    #: Verified tokens kept (until they expire) so a client's every request does not pay the RSA check again.
    CACHE_SIZE = 10_000

    def __init__(self, settings: PlatformSettings) -> None:
        self.settings = settings
        self.keys = KeySource(settings)
        self._verified: dict[str, tuple[Principal, float]] = {}

    def cached(self, token: str) -> Principal | None:
        hit = self._verified.get(token)
        return hit[0] if hit is not None and hit[1] > time.time() else None

    def verify(self, token: str) -> Principal:
        cached = self.cached(token)
        if cached is not None:
            return cached
        principal, expires = self._decode(token)
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _decode(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"invalid token: {exc}") from None
        algorithm = header.get("alg")
        if algorithm not in ACCEPTED_ALGORITHMS:
            raise _unauthorized(f"invalid token: algorithm {algorithm!r} is not accepted (asymmetric ones only)")
        kid = header.get("kid")
        key = self.keys.key_for(kid if isinstance(kid, str) else None, str(algorithm))
        settings = self.settings
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[str(algorithm)],
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                leeway=settings.jwt_leeway_seconds,
                options={"require": ["sub", "exp", "iat", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"invalid token: {exc}") from None
        if not isinstance(claims["exp"], int | float) or not isinstance(claims["iat"], int | float):
            raise _unauthorized("invalid token: 'exp' and 'iat' must be numbers")
        if claims["exp"] - claims["iat"] > settings.jwt_max_lifetime_seconds:
            raise _unauthorized(
                f"invalid token: it lives longer than the {settings.jwt_max_lifetime_seconds} s allowed"
            )
        return _principal(claims), float(claims["exp"])


def _principal(claims: dict[str, Any]) -> Principal:
    """Our claims (`org`, `unit`, `roles`); an issuer such as Keycloak may give roles as `realm_access.roles`."""
    org = claims.get("org")
    roles = claims.get("roles")
    if roles is None and isinstance(claims.get("realm_access"), dict):
        roles = claims["realm_access"].get("roles")
    roles = roles or []
    if not isinstance(org, str) or not org:
        raise _unauthorized("invalid token: claim 'org' is missing")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise _unauthorized("invalid token: claim 'roles' must be a list of strings")
    unit = claims.get("unit")
    return Principal(
        sub=str(claims["sub"]), org=org, unit=unit if isinstance(unit, str) else None, roles=frozenset(roles)
    )


def claimed_identity(token: str) -> str:
    """Who a refused token says it is (`sub@org`, unverified): for the audit log only, never for a decision."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "?"
    return f"{claims.get('sub', '?')}@{claims.get('org', '?')}"


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from a verified bearer token; kept on `request.state.principal` for the audit log.

    Once per request: the route-permission check and the endpoint both ask, and get the same principal."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    if credentials is None or credentials.scheme.lower() != "bearer":
        request.state.refused_identity = "anonymous"
        raise _unauthorized("a bearer token is required (see `edms token --help`)")
    authenticator: Authenticator = request.app.state.authenticator
    token = credentials.credentials
    try:
        cached = authenticator.cached(token)
        principal = cached if cached is not None else await asyncio.to_thread(authenticator.verify, token)
    except HTTPException:
        request.state.refused_identity = claimed_identity(token)
        raise
    parts = request.app.state.parts
    facts: access_facts.AccessFacts | None = getattr(parts, "access", None)
    if facts is not None and parts.database.healthy():
        try:
            known_roles = facts.cached_directory_roles(principal.org, principal.sub)
            principal = (
                _with_roles(principal, *known_roles)
                if known_roles is not None
                else await asyncio.to_thread(with_directory_roles, principal, facts)
            )
        except Exception as exc:  # the token's roles only (never more): the request goes on, and fails if it must
            log.warning("directory roles of %s@%s not read: %s", principal.sub, principal.org, exc)
    request.state.principal = principal
    return principal


def with_directory_roles(principal: Principal, facts: access_facts.AccessFacts) -> Principal:
    """The token's roles, and those the directory gives the person in the token's organization, and those
    delegated to them for today (edms_runtime.access.AccessFacts.directory_roles)."""
    return _with_roles(principal, *facts.directory_roles(principal.org, principal.sub))


def _with_roles(principal: Principal, roles: frozenset[str], acting_for: tuple[str, ...]) -> Principal:
    if roles <= principal.roles and not acting_for:
        return principal
    return replace(principal, roles=principal.roles | roles, acting_for=acting_for)


async def bind_access_facts(request: Request) -> None:
    """An app-wide dependency: the service's access facts for `Principal.may_read` during this request."""
    parts = getattr(request.app.state, "parts", None)
    facts = getattr(parts, "access", None)
    if facts is not None:
        access_facts.CURRENT.set(facts)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(principal: Principal, *roles: str) -> None:
    if not principal.has_role(*roles):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"one of the roles {sorted(roles)} is required")


def require_permission(principal: Principal, permission: str) -> None:
    """403 unless one of the principal's roles has `permission` in the role table."""
    if not principal.permits(permission):
        from edms_runtime.roles import table

        holders = table().roles_with(permission)
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=f"{permission} needs one of the roles {holders} (roles.toml)"
        )


async def check_route_permission(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """An app-wide dependency: a route the role table lists needs its permission (403 before the endpoint runs)."""
    from edms_runtime.roles import table

    route = request.scope.get("route")
    service = getattr(request.app.state, "service_name", None)
    if route is None or service is None:
        return
    template = getattr(route, "path", "")
    permission = table().route_permission(service, request.method, template)
    if permission is not None:
        require_permission(await current_principal(request, credentials), permission)
    rate = table().rate_limit(service, request.method, template)
    if rate is not None:
        principal = await current_principal(request, credentials)
        buckets: Buckets = request.app.state.rate_buckets
        wait = buckets.take(f"{principal.sub}@{principal.org}", f"{request.method} {template}", rate)
        if wait > 0:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"at most {rate:g} requests per second to {request.method} {template} (roles.toml [limits])",
                headers={"Retry-After": retry_after(wait)},
            )
