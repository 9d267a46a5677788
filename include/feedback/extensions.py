"""Extension points: what only a deployment or a checkout provides, found by entry point.

The product package imports neither Airflow nor the development package. Where it
needs something only they have (Airflow's connection lookup, a checkout's embedded
register, extra CLI commands), the provider declares a Python entry point in the
pyproject.toml that installs it, and the product loads it here. Groups in use:

- ``feedback.connections``: a ``feedback.connections.ConnectionLookup`` implementation;
- ``feedback.register``: a provider of the embedded register URL for a checkout;
- ``feedback.cli``: functions ``register(subparsers)`` adding CLI commands.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from feedback.errors import ConfigError


def load(group: str) -> list[object]:
    """The loaded objects of every entry point in `group`, sorted by entry point name.

    Sorted so the order (which command is added first, which lookup wins) does not
    depend on the order packages happen to be installed in. A provider that fails to
    import is a broken installation: it raises ConfigError naming the entry point,
    rather than the feature silently falling back to something else.
    """
    loaded: list[object] = []
    for point in sorted(entry_points(group=group), key=lambda ep: ep.name):
        try:
            loaded.append(point.load())
        except Exception as exc:
            raise ConfigError(
                f"entry point {point.name!r} in group {group!r} ({point.value}) failed to load: "
                f"{type(exc).__name__}: {exc}; reinstall the package that provides it or remove it"
            ) from exc
    return loaded
