"""What takes HTTP in front of Ray Serve: HAProxy with Serve's throughput-optimised data plane (the default),
or Serve's own Python proxy.

Serve reads these switches from the environment of every Ray process when it is imported, so they must be
in place before Ray starts: ``fleetray up`` sets them before it starts a local Ray (with a short drain when a
replica stops: no load balancer sits in front of one machine); a cluster sets them on every node
(``cluster/README.md``). ``FLEETRAY_SERVE_INGRESS=proxy`` turns both off; a ``RAY_SERVE_*`` variable
already set wins over this module.
"""

from __future__ import annotations

import os

from fleetray.errors import ConfigError

HAPROXY = "haproxy"
PROXY = "proxy"
INGRESSES = (HAPROXY, PROXY)
GRPC_MAX_MESSAGE_BYTES = 1 << 30

SERVE_ENVIRONMENT: dict[str, dict[str, str]] = {
    # HAProxy takes the HTTP port and forwards to each replica's own HTTP server (direct ingress); the
    # throughput-optimised mode runs user code and handle routing on the replica's event loop, and calls
    # between deployments over gRPC, whose 4 MiB default cap on a message would refuse a large fleet's
    # predictions or a large schedule, so the cap is raised to 1 GiB.
    # A stopping replica behind HAProxy waits at least 30 s by default, for load balancers in front of the
    # cluster to notice; on one machine nothing sits in front of HAProxy, and that wait only held up every
    # stop (Ctrl-C, a redeploy) by half a minute. Clusters keep Serve's default (cluster/README.md).
    HAPROXY: {
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        "RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH": str(GRPC_MAX_MESSAGE_BYTES),
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2",
    },
    PROXY: {"RAY_SERVE_ENABLE_HA_PROXY": "0", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "0"},
}


def serve_environment(ingress: str) -> dict[str, str]:
    """The ``RAY_SERVE_*`` variables of an ingress (``haproxy`` or ``proxy``)."""
    try:
        return dict(SERVE_ENVIRONMENT[ingress])
    except KeyError:
        raise ConfigError(f"unknown Serve ingress {ingress!r}: expected one of {', '.join(INGRESSES)}") from None


def apply_serve_environment(ingress: str) -> dict[str, str]:
    """Set the ingress's variables in this process (before Ray starts), keeping any already set; return them."""
    for name, value in serve_environment(ingress).items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in SERVE_ENVIRONMENT[ingress]}
