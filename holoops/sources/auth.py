"""Credentials for Prometheus, and the process-wide secret redaction registry.

Secrets come from the environment or a YAML file, never from code or notebooks:

=============================  ===============================================================
env var                        meaning
=============================  ===============================================================
``HOLOOPS_PROM_URL``           Prometheus base URL
``HOLOOPS_PROM_TOKEN``         bearer token
``HOLOOPS_PROM_TOKEN_FILE``    file holding the bearer token (read at load time)
``HOLOOPS_PROM_USER``          basic-auth user (with ``HOLOOPS_PROM_PASSWORD``)
``HOLOOPS_PROM_PASSWORD``      basic-auth password
``HOLOOPS_PROM_PASSWORD_FILE`` file holding the basic-auth password
``HOLOOPS_PROM_CA``            CA bundle to verify the server with
``HOLOOPS_PROM_CERT``          client certificate (PEM); ``HOLOOPS_PROM_KEY`` its key
``HOLOOPS_PROM_INSECURE``      ``1``/``true`` skips TLS verification (not for production)
``HOLOOPS_PROM_CONFIG``        config file path (default ``~/.config/holoops/prometheus.yaml``)
=============================  ===============================================================

The config file has the same keys in lower case without the prefix (``url``, ``token``, ``token_file``,
``user``, ``password``, ``password_file``, ``ca``, ``cert``, ``key``, ``insecure``). Environment
variables win over the file.

Each secret is held in a :class:`Secret` (``repr``/``str`` are ``***``) and registered with
:func:`register_secret`, so :func:`redact` (used by logging and the export code) can scrub it from
any text.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from holoops.errors import HoloopsError

MASK = "***"
#: shorter values are not substring-redacted (they would mangle ordinary text); avoid such secrets
MIN_REDACT_LEN = 4
DEFAULT_CONFIG = Path("~/.config/holoops/prometheus.yaml")
_CONFIG_KEYS = {"url", "token", "token_file", "user", "password", "password_file", "ca", "cert", "key",
                "insecure"}

_log = logging.getLogger(__name__)
_lock = threading.Lock()


class AuthConfigError(HoloopsError, ValueError):
    """The Prometheus credentials configuration is incomplete or unreadable (names the key/file)."""


class Secret:
    """A secret string: ``repr``/``str``/``format`` show ``***``; :meth:`reveal` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        if isinstance(value, Secret):
            value = value.reveal()
        self._value = str(value)
        register_secret(self._value)

    def reveal(self) -> str:
        """The plain value: pass it straight to the HTTP layer, never to print/log."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self):  # pickling would write the plain value somewhere
        raise TypeError("Secret values cannot be pickled")


def register_secret(value: str | Secret | None) -> None:
    """Add ``value`` to the process-wide registry in :mod:`holoops.redact` (no-op for empty/short values)."""
    from holoops import redact as registry

    if isinstance(value, Secret):
        value = value.reveal()
    if not value:
        return
    if len(str(value)) < MIN_REDACT_LEN:
        _log.warning("a secret shorter than %d characters cannot be redacted from text", MIN_REDACT_LEN)
        return
    registry.register_secret(str(value))


def redact(text: Any) -> str:
    """``text`` as a string with every known secret masked (see :mod:`holoops.redact`)."""
    from holoops import redact as registry

    return registry.redact(str(text))


def registered_count() -> int:
    """How many secrets are known (for tests and diagnostics; never the values)."""
    from holoops import redact as registry

    return len(registry.secrets())


class RedactingFilter(logging.Filter):
    """A logging filter that redacts registered secrets from the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if registered_count():
            msg = record.getMessage()
            clean = redact(msg)
            if clean != msg:
                record.msg, record.args = clean, None
        return True


def install_log_redaction(logger: logging.Logger | str = "holoops") -> None:
    """Attach :class:`RedactingFilter` to ``logger`` (idempotent)."""
    lg = logging.getLogger(logger) if isinstance(logger, str) else logger
    if not any(isinstance(f, RedactingFilter) for f in lg.filters):
        lg.addFilter(RedactingFilter())


@dataclass(frozen=True)
class PromAuth:
    """How to authenticate to Prometheus. Secrets are :class:`Secret`; the rest are paths/flags."""

    token: Secret | None = None
    user: str | None = None
    password: Secret | None = None
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    insecure: bool = False
    url: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("token", "password"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, Secret):
                object.__setattr__(self, name, Secret(v))
        if self.password is not None and not self.user:
            raise AuthConfigError("a password is set but no user (HOLOOPS_PROM_USER / 'user')")
        if self.token is not None and self.user:
            raise AuthConfigError("both a bearer token and basic auth are set; choose one")
        if self.key and not self.cert:
            raise AuthConfigError("a client key is set but no client certificate (HOLOOPS_PROM_CERT / 'cert')")
        if self.user and self.password is not None:
            register_secret(base64.b64encode(f"{self.user}:{self.password.reveal()}".encode()).decode())

    @property
    def kind(self) -> str:
        """``bearer``, ``basic`` or ``none``."""
        return "bearer" if self.token else "basic" if self.user else "none"

    def requests_auth(self):
        """A ``requests`` auth object that adds the header at send time, or ``None``."""
        if self.token:
            return _BearerAuth(self.token)
        if self.user:
            import requests.auth

            return requests.auth.HTTPBasicAuth(self.user, self.password.reveal() if self.password else "")
        return None

    def apply(self, session) -> None:
        """Configure TLS verification and the client certificate of a ``requests.Session``."""
        if self.insecure:
            session.verify = False
        elif self.ca:
            session.verify = self.ca
        if self.cert:
            session.cert = (self.cert, self.key) if self.key else self.cert


class _BearerAuth:
    """``Authorization: Bearer <token>`` added to each prepared request (never stored on the session)."""

    def __init__(self, token: Secret):
        self._token = token

    def __call__(self, r):
        r.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        return r

    def __repr__(self) -> str:
        return f"_BearerAuth({MASK})"


def _truthy(v: Any) -> bool:
    return str(v).strip().lower() in {"1", "true", "yes", "on"}


def _read_secret_file(path: str, what: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise AuthConfigError(f"{what} {path}: cannot read ({exc.strerror or type(exc).__name__})") from None


def _read_config(path: Path, required: bool) -> dict[str, Any]:
    import yaml

    p = path.expanduser()
    if not p.exists():
        if required:
            raise AuthConfigError(f"{p}: Prometheus config file not found")
        return {}
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        # never echo file content (it may hold a token); name the file and the problem kind
        raise AuthConfigError(f"{p}: not a readable YAML mapping ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise AuthConfigError(f"{p}: expected a mapping of {', '.join(sorted(_CONFIG_KEYS))}")
    unknown = set(data) - _CONFIG_KEYS
    if unknown:
        raise AuthConfigError(f"{p}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                              f"known: {', '.join(sorted(_CONFIG_KEYS))}")
    for k in ("token", "password"):
        if data.get(k):
            register_secret(str(data[k]))
    return data


def load_auth(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> PromAuth:
    """Credentials from the environment, then the config file (``path``, ``HOLOOPS_PROM_CONFIG`` or
    ``~/.config/holoops/prometheus.yaml``). An explicit ``path`` that does not exist is an error."""
    env = os.environ if env is None else env
    cfg_path = path or env.get("HOLOOPS_PROM_CONFIG")
    cfg = _read_config(Path(cfg_path) if cfg_path else DEFAULT_CONFIG, required=bool(cfg_path))
    for k in ("TOKEN", "PASSWORD"):
        register_secret(env.get(f"HOLOOPS_PROM_{k}"))

    def pick(key: str) -> Any:
        v = env.get(f"HOLOOPS_PROM_{key.upper()}")
        return v if v not in (None, "") else cfg.get(key)

    token = pick("token")
    if not token and pick("token_file"):
        token = _read_secret_file(str(pick("token_file")), "token file")
    password = pick("password")
    if not password and pick("password_file"):
        password = _read_secret_file(str(pick("password_file")), "password file")
    insecure = pick("insecure")
    return PromAuth(
        token=Secret(str(token)) if token else None,
        user=str(pick("user")) if pick("user") else None,
        password=Secret(str(password)) if password else None,
        ca=str(pick("ca")) if pick("ca") else None,
        cert=str(pick("cert")) if pick("cert") else None,
        key=str(pick("key")) if pick("key") else None,
        insecure=_truthy(insecure) if insecure is not None else False,
        url=str(pick("url")) if pick("url") else None,
    )


def strip_url_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``https://u:p@host/x`` -> (``https://host/x``, ``u``, ``p``); credentials get registered."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    user = unquote(parts.username) if parts.username else None
    pw = unquote(parts.password) if parts.password else None
    if pw:
        register_secret(pw)
        register_secret(parts.password)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), user, pw


def stash_url_credentials(url: str) -> str:
    """``url`` without its ``user:password@`` part; the credentials move to ``HOLOOPS_PROM_USER`` /
    ``HOLOOPS_PROM_PASSWORD`` in this process's environment (unless already set), where
    :func:`load_auth` finds them and kernels started from here inherit them. The URL that remains is safe
    to write into notebooks, reports and the run history; the password is registered for redaction."""
    clean, user, password = strip_url_credentials(url)
    if user and not os.environ.get("HOLOOPS_PROM_USER") and not os.environ.get("HOLOOPS_PROM_TOKEN"):
        os.environ["HOLOOPS_PROM_USER"] = user
        if password:
            os.environ["HOLOOPS_PROM_PASSWORD"] = password
    return clean
