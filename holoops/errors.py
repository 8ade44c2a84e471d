"""Every error holoops raises on purpose. One module, specific classes (papermill's pattern).

Each error names what is at fault (a file and line, a profile key, a parameter) so the reader knows
what to fix without reading a traceback.
"""

from __future__ import annotations


class HoloopsError(Exception):
    """Base class for errors holoops raises on purpose."""


class FleetProfileError(HoloopsError, ValueError):
    """A fleet profile is missing a key or holds a bad value. ``key`` is the dotted path at fault."""

    def __init__(self, source: str, key: str, problem: str):
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: fleet profile key '{key}': {problem}")


class InputFileError(HoloopsError, ValueError):
    """A whole file cannot be read as what it was expected to be (wrong shape, unreadable)."""

    def __init__(self, path: str, expected: str, found: str):
        self.path, self.expected, self.found = str(path), expected, found
        super().__init__(f"{path}: expected {expected}, found {found}")


class SchemaError(HoloopsError, ValueError):
    """A frame lacks a canonical column or has the wrong type for it."""


class PrometheusError(HoloopsError, RuntimeError):
    """Prometheus could not answer a query (after retries), or answered with an error."""


class ParameterError(HoloopsError, ValueError):
    """A notebook parameter is unknown or has a bad value. Raised before any kernel starts."""


class EngineError(HoloopsError, RuntimeError):
    """The requested dataframe engine is not available here."""


class RuleError(HoloopsError, ValueError):
    """An alert rule is invalid (bad PromQL, unknown severity, duplicate name)."""


class GuideError(HoloopsError, ValueError):
    """A deployment guide cannot be generated from the profile (a platform needs a missing key)."""


class CatalogError(HoloopsError, ValueError):
    """A catalog (YAML data under ``holoops/catalogs/`` or a profile's own entry) is malformed."""


class SignalMissingError(HoloopsError, LookupError):
    """An analysis needs a signal the data does not hold (callers turn this into a coverage note)."""
