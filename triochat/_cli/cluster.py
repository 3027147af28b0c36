"""``triochat serve --cluster``: the options that make a server one node of a network."""

from __future__ import annotations

import socket
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from .._server.delivery import Delivery
    from .._server.replication import Replication
    from .._state.machine import ServerState

__all__ = ["add_cluster_arguments", "cluster_db", "cluster_from_args"]

DEFAULT_NODE_TIMEOUT = 15.0


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``--cluster``, ``--node-name`` and ``--node-timeout``."""
    group = parser.add_argument_group("cluster (needs: pip install 'triochat[cluster]')")
    group.add_argument(
        "--cluster",
        metavar="URL",
        help="join the network whose nodes share this Redis, e.g. redis://127.0.0.1:6379/0"
        " (default: a single server, no Redis)",
    )
    group.add_argument(
        "--node-name",
        metavar="NAME",
        help="this node's name, unique in the network (default: the host name)",
    )
    group.add_argument(
        "--node-timeout",
        type=float,
        default=DEFAULT_NODE_TIMEOUT,
        metavar="SECONDS",
        help="a node silent this long is lost: its users quit (default: %(default)s)",
    )


def node_name(args: argparse.Namespace) -> str:
    name: str = args.node_name or socket.gethostname()
    return name


def cluster_db(args: argparse.Namespace) -> str:
    """The default history file of a node: its own, named after it (``triochat-NAME.db``)."""
    return f"triochat-{node_name(args)}.db"


def cluster_from_args(
    args: argparse.Namespace,
) -> Callable[[ServerState, Delivery], Replication] | None:
    """The node factory for ``--cluster``, or None; ``ValueError`` if it cannot be."""
    url: str | None = args.cluster
    if url is None:
        return None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"--cluster wants a redis:// URL, not {url!r}")
    timeout = float(args.node_timeout)
    if timeout <= 0:
        raise ValueError("--node-timeout must be positive")
    name = node_name(args)
    if not name or any(c in name for c in " :{},"):
        raise ValueError(f"--node-name {name!r}: no spaces, ':', ',' or braces")
    try:
        from .._cluster.redis import connect
    except ImportError as error:  # coredis is an optional extra
        raise ValueError(
            f"cluster mode needs coredis ({error}); install it: pip install 'triochat[cluster]'"
        ) from error
    from .._cluster.node import ClusterNode, NodeSettings

    settings = NodeSettings(name, timeout=timeout)
    # A store call that takes longer than a third of the node timeout counts as an outage.
    opener = partial(
        connect, url, call_timeout=max(0.5, min(5.0, timeout / 3)), nick_ttl=3 * timeout
    )

    def build(state: ServerState, delivery: Delivery) -> Replication:
        return ClusterNode(settings, opener, state, delivery)

    return build
