"""Many machines: cameras as Ray actors placed by site, once-per-cluster jobs under a lease in
PostgreSQL, and API state (console sessions, rate limits) in the database so API processes are stateless.

The single-machine default needs none of this; Ray is the optional extra `pip install 'overt[cluster]'`
and is imported only when a cluster is asked for. See docs/cluster.md.
"""

from __future__ import annotations

from typing import Any


class ClusterError(Exception):
    """The cluster cannot be used as asked (no Ray installed, SQLite instead of PostgreSQL, no key)."""


def require_ray() -> Any:
    """The `ray` module, or a ClusterError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ClusterError("Ray is not installed: pip install 'overt[cluster]'") from None
    return ray
