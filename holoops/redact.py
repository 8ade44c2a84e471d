"""The one secret registry: every value that must never reach an output, and the function that masks it.

Secrets come from three places: :func:`register_secret` (sources register tokens they are given),
environment variables whose *name* looks secret (``TOKEN``, ``PASSWORD``, ``SECRET``, ``API_KEY``,
``APIKEY``, ``PASSWD``, ``CREDENTIAL``), and parameters a schema marks secret. :func:`redact` masks all of
them in text; :func:`redact_notebook` masks a whole notebook (sources, outputs, metadata).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***REDACTED***"
#: a name (env var, parameter, header) whose value is treated as a secret
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|API_KEY|APIKEY|PASSWD|CREDENTIAL", re.IGNORECASE)
#: shorter values are not masked (masking "1" or "on" would destroy every output)
MIN_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()


def is_secret_name(name: str) -> bool:
    """True when a variable/parameter called ``name`` holds a secret by naming convention."""
    return bool(SECRET_NAME.search(name))


def register_secret(value: Any) -> None:
    """Remember ``value`` so :func:`redact` masks it from now on (None and short values are ignored)."""
    if value is None:
        return
    text = str(value)
    if len(text) >= MIN_LENGTH:
        with _lock:
            _secrets.add(text)


def forget_secrets() -> None:
    """Clear registered secrets (tests)."""
    with _lock:
        _secrets.clear()


def env_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look secret."""
    env = os.environ if environ is None else environ
    return [v for k, v in env.items() if is_secret_name(k) and v and len(v) >= MIN_LENGTH]


def register_params(values: Mapping[str, Any], secret_names: Iterable[str] = ()) -> None:
    """Register parameter values whose name is in ``secret_names`` or looks secret."""
    names = set(secret_names)
    for k, v in values.items():
        if (k in names or is_secret_name(k)) and isinstance(v, (str, int, float)):
            register_secret(v)


def secrets() -> list[str]:
    """All values masked now: registered plus secret-named env vars; longest first."""
    with _lock:
        known = set(_secrets)
    known.update(env_secrets())
    return sorted(known, key=len, reverse=True)


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every known secret (and ``extra`` values) replaced by :data:`MASK`."""
    if not isinstance(text, str) or not text:
        return text
    values = secrets() + [e for e in extra if e and len(e) >= MIN_LENGTH]
    for value in sorted(set(values), key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_obj(obj: Any, extra: Iterable[str] = ()) -> Any:
    """Redact every string inside nested dicts/lists (keys kept); secret-named keys are masked whole."""
    extra = list(extra)
    if isinstance(obj, str):
        return redact(obj, extra)
    if isinstance(obj, Mapping):
        return {k: (MASK if isinstance(k, str) and is_secret_name(k) and isinstance(v, str) and v
                    else redact_obj(v, extra)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v, extra) for v in obj)
    return obj


def redact_notebook(nb: Any, extra: Iterable[str] = ()) -> Any:
    """Mask secrets in place in an nbformat notebook: cell sources, outputs and all metadata."""
    extra = list(extra)
    nb["metadata"] = _as_node(nb.get("metadata", {}), redact_obj(dict(nb.get("metadata", {})), extra))
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        cell["source"] = redact("".join(src) if isinstance(src, list) else src, extra)
        cell["metadata"] = _as_node(cell.get("metadata", {}), redact_obj(dict(cell.get("metadata", {})), extra))
        for i, out in enumerate(cell.get("outputs", []) or []):
            cell["outputs"][i] = _as_node(out, redact_obj(_plain(out), extra))
    return nb


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _as_node(original: Any, value: dict) -> Any:
    try:
        from nbformat import from_dict

        return from_dict(value)
    except ImportError:  # pragma: no cover
        return value
