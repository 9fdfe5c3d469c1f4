"""Who may do what: bearer tokens with two scopes, the dashboard's session cookie, and the
checks that keep another web site from acting through a logged-in browser.

**Scopes.** ``read`` may call every ``GET``; ``operate`` may also start, cancel, repair, pause
and purge. Tokens come from ``create_app(tokens=...)`` or ``$ZART_API_TOKENS``, written
``read:TOKEN,operate:TOKEN`` (each at least 16 characters). A presented token is compared
with every configured one by :func:`hmac.compare_digest`, so the time taken tells nothing
about how much of it matched.

**Without tokens** the app serves only this machine: requests from a non-loopback address,
or naming a non-loopback ``Host`` (a DNS-rebinding page would), are refused with 403; every
local caller may operate. ``open_access=True`` lifts both checks for an app mounted behind
the host project's own authentication.

**The dashboard** logs in with a token once: the server answers with a session cookie
(``HttpOnly``, ``SameSite=Strict``, ``Secure`` over HTTPS, 12 hours) that holds the scope, the
expiry, a fingerprint of the token and an HMAC of them keyed by the token itself. It holds
no secret; every process configured with the same tokens accepts it; removing a token ends
its sessions.

**Cross-site requests** (CSRF). A state-changing request (any ``POST``) is accepted only when
all of these hold:

1. its body, if any, is ``application/json`` (the API) or the login form; the API refuses
   other media types (415), and a page of another site cannot send JSON here without a CORS
   preflight, which this app never grants (it sends no ``Access-Control-Allow-*`` header);
2. a browser's ``Sec-Fetch-Site`` header, when sent, says ``same-origin`` or ``none``, and an
   ``Origin`` header, when sent, names this very host;
3. unless it carries ``Authorization: Bearer`` (which a browser never adds on its own): a
   request that comes from a browser (it has a cookie, an ``Origin`` or a ``Sec-Fetch-Site``)
   repeats the value of the ``zart_csrf`` cookie in its ``X-Zart-CSRF`` header (or the login
   form's ``csrf`` field): the double-submit pattern. Another site can neither read that
   cookie nor set that header.

Each layer alone stops the classic attacks; together they also hold when a browser lacks one
of the headers, and ``SameSite=Strict`` keeps the cookies off cross-site requests anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigurationError
from .http import HttpError, Request

__all__ = ["CSRF_COOKIE", "CSRF_HEADER", "SESSION_COOKIE", "Access", "Guard", "parse_tokens"]

Scope = Literal["read", "operate"]

SCOPES: tuple[Scope, ...] = ("read", "operate")
"""The scopes, weakest first: ``operate`` includes ``read``."""

SESSION_COOKIE = "zart_session"
CSRF_COOKIE = "zart_csrf"
CSRF_HEADER = "X-Zart-CSRF"
SESSION_SECONDS = 12 * 3600
"""How long a dashboard login lasts."""

MIN_TOKEN_LENGTH = 16
"""The shortest token accepted: a guessable token is no protection."""

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]", "::1"}


def parse_tokens(spec: str | Mapping[str, str] | None) -> dict[str, Scope]:
    """Tokens and their scopes from ``"read:TOKEN,operate:TOKEN"`` or ``{token: scope}``
    (None: ``$ZART_API_TOKENS``, else none); a malformed one is a clear error."""
    if spec is None:
        spec = os.environ.get("ZART_API_TOKENS") or ""
    pairs: list[tuple[str, str]] = []
    if isinstance(spec, str):
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            scope, sep, token = item.partition(":")
            if not sep:
                raise ConfigurationError(f"API token entry {item[:6]!r}... has no scope: write "
                                         f"read:TOKEN or operate:TOKEN")
            pairs.append((token, scope))
    elif isinstance(spec, Mapping):
        pairs = [(str(token), str(scope)) for token, scope in spec.items()]
    else:
        raise ConfigurationError(f"tokens must be 'read:TOKEN,operate:TOKEN' or a mapping of "
                                 f"token to scope, got {type(spec).__name__}")
    tokens: dict[str, Scope] = {}
    for token, scope in pairs:
        if scope not in SCOPES:
            raise ConfigurationError(f"unknown API token scope {scope!r}: use read or operate")
        if len(token) < MIN_TOKEN_LENGTH or not token.isascii() or not token.isprintable() \
                or any(c in token for c in " ,:"):
            raise ConfigurationError(
                f"an API token of scope {scope} is too weak or malformed: use at least "
                f"{MIN_TOKEN_LENGTH} printable ASCII characters without spaces, commas or "
                f"colons (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')")
        tokens[token] = "read" if scope == "read" else "operate"
    return tokens


def _fingerprint(token: str) -> str:
    return hashlib.sha256(_bytes(token)).hexdigest()[:16]


def _bytes(text: str) -> bytes:
    """Header text as bytes (what was not UTF-8 on the wire stays as it came)."""
    return text.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Access:
    """What a request may do, and who it is for the audit trail."""

    scope: Scope
    via: Literal["token", "session", "local", "open"]
    who: str
    """``token:<fingerprint>``, or ``local`` / ``open`` without tokens."""

    def allows(self, needed: Scope) -> bool:
        """Whether this access includes the ``needed`` scope."""
        return SCOPES.index(self.scope) >= SCOPES.index(needed)


def _host_name(host: str) -> str:
    """The host of a ``Host`` header, without its port."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_loopback_address(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class Guard:
    """Authenticates requests and checks the cross-site rules (see the module's docstring)."""

    def __init__(self, tokens: Mapping[str, Scope], *, open_access: bool = False) -> None:
        self.tokens = dict(tokens)
        self.open_access = open_access
        self._by_fingerprint = {_fingerprint(t): t for t in self.tokens}

    @property
    def needs_login(self) -> bool:
        """Whether callers must present a token (some are configured)."""
        return bool(self.tokens)

    # -- who is asking --------------------------------------------------------------------

    def access(self, request: Request) -> Access | None:
        """The caller's access, or None when it presented nothing valid; 401 for a malformed
        or unknown bearer token, 403 for a request refused without tokens configured."""
        if not self.tokens:
            return self._without_tokens(request)
        header = request.header("Authorization")
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise self.unauthorized("the Authorization header must be 'Bearer TOKEN'")
            scope = self._match(token.strip())
            if scope is None:
                raise self.unauthorized("unknown API token")
            return Access(scope, "token", f"token:{_fingerprint(token.strip())[:8]}")
        return self._session(request.cookie(SESSION_COOKIE))

    def _without_tokens(self, request: Request) -> Access:
        if self.open_access:
            return Access("operate", "open", "open")
        remote = str(request.environ.get("REMOTE_ADDR") or "")
        if remote and not _is_loopback_address(remote):
            raise HttpError(403, "Forbidden", "no API tokens are configured, so only this "
                            "machine is served; set ZART_API_TOKENS to serve others")
        host = request.header("Host")
        if host and _host_name(host) not in _LOOPBACK_NAMES:
            raise HttpError(403, "Forbidden", f"no API tokens are configured, so only "
                            f"loopback host names are served, not {host[:60]!r}")
        return Access("operate", "local", "local")

    def _match(self, presented: str) -> Scope | None:
        found: Scope | None = None
        given = _bytes(presented)
        for token, scope in self.tokens.items():  # every one, matched or not: no early exit
            if hmac.compare_digest(given, _bytes(token)):
                found = scope
        return found

    @staticmethod
    def unauthorized(message: str) -> HttpError:
        """401 with the challenge a client needs to know it should send a bearer token."""
        return HttpError(401, "Unauthorized", message,
                         {"WWW-Authenticate": 'Bearer realm="zart"'})

    # -- the dashboard's session ----------------------------------------------------------

    def login(self, token: str) -> str | None:
        """A session cookie value for a valid ``token``, else None."""
        scope = self._match(token)
        if scope is None:
            return None
        expires = int(time.time()) + SESSION_SECONDS
        fingerprint = _fingerprint(token)
        payload = f"v1.{scope}.{expires}.{fingerprint}"
        return f"{payload}.{self._mac(token, payload)}"

    @staticmethod
    def _mac(token: str, payload: str) -> str:
        return hmac.new(_bytes(token), _bytes(payload), hashlib.sha256).hexdigest()

    def _session(self, value: str | None) -> Access | None:
        if not value:
            return None
        parts = value.split(".")
        if len(parts) != 5 or parts[0] != "v1":
            return None
        _, scope, expires, fingerprint, mac = parts
        token = self._by_fingerprint.get(fingerprint)
        if token is None or not expires.isdigit() or int(expires) < time.time():
            return None
        expected = self._mac(token, ".".join(parts[:4]))
        if not hmac.compare_digest(_bytes(expected), _bytes(mac)) or \
                self.tokens.get(token) != scope:
            return None
        return Access(self.tokens[token], "session", f"token:{fingerprint[:8]}")

    # -- cross-site requests --------------------------------------------------------------

    @staticmethod
    def new_csrf() -> str:
        """A fresh double-submit value."""
        return secrets.token_urlsafe(32)

    def check_unsafe(self, request: Request, submitted: str | None = None) -> None:
        """Refuse (403) a state-changing request another site may have made (rules 2 and 3
        of the module's docstring; rule 1 is the body's media type, checked as it is read)."""
        fetch_site = request.header("Sec-Fetch-Site")
        if fetch_site is not None and fetch_site.lower() not in ("same-origin", "none"):
            raise HttpError(403, "Forbidden", f"cross-site request refused (Sec-Fetch-Site: "
                            f"{fetch_site[:30]})")
        origin = request.header("Origin")
        host = request.header("Host") or ""
        if origin is not None and origin.split("://", 1)[-1].lower() != host.lower():
            raise HttpError(403, "Forbidden", f"cross-origin request refused (Origin "
                            f"{origin[:60]!r} is not this host)")
        if request.header("Authorization"):
            return
        browser = bool(request.header("Cookie") or origin or fetch_site)
        if not browser:
            return
        cookie = request.cookie(CSRF_COOKIE)
        given = submitted if submitted is not None else request.header(CSRF_HEADER)
        if not cookie or not given or not hmac.compare_digest(_bytes(cookie), _bytes(given)):
            raise HttpError(403, "Forbidden", f"missing or wrong {CSRF_HEADER} header: reload "
                            f"the dashboard, or send a bearer token")
