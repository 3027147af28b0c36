"""``triochat serve --cluster``: the options that make a server one node of a network.

The settings themselves (flags and ``[cluster]`` keys, with their checks) are
declared in :mod:`.._ops.settings`; this module builds the node from them, and
imports the cluster (and coredis) only when cluster mode is on.
"""

from __future__ import annotations

import argparse
import socket
from functools import partial
from typing import TYPE_CHECKING, cast

from .._ops.settings import DEFAULT_NODE_TIMEOUT

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._accounts.records import Account, ScramCredentials
    from .._server.delivery import Delivery
    from .._server.replication import Replication
    from .._state.machine import ServerState

__all__ = ["add_cluster_arguments", "cluster_from_settings", "create_shared_account"]

#: The "node" the owner's ``triochat account create --cluster`` speaks as in the log.
OWNER_TOOL = "triochat-account"


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``--cluster``, ``--node-name`` and ``--node-timeout`` (absent unless typed)."""
    group = parser.add_argument_group("cluster (needs: pip install 'triochat[cluster]')")
    group.add_argument(
        "--cluster",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="join the network whose nodes share this Redis, e.g. redis://127.0.0.1:6379/0"
        " (default: a single server, no Redis)",
    )
    group.add_argument(
        "--node-name",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="this node's name, unique in the network (default: the host name)",
    )
    group.add_argument(
        "--node-timeout",
        type=float,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help=f"a node silent this long is lost: its users quit (default: {DEFAULT_NODE_TIMEOUT})",
    )


def cluster_from_settings(
    values: dict[str, object],
) -> Callable[[ServerState, Delivery], Replication] | None:
    """The node factory for the checked ``cluster`` settings, or None (a single server).

    ``ValueError`` if cluster mode is asked for but coredis is not installed.
    """
    url = cast("str | None", values.get("cluster"))
    if url is None:
        return None
    timeout = cast("float", values.get("node_timeout", DEFAULT_NODE_TIMEOUT))
    name = cast("str | None", values.get("node_name")) or socket.gethostname()
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


def create_shared_account(
    url: str,
    name: str,
    password_hash: str,
    scram: ScramCredentials,
    *,
    email: str | None,
    now: float,
) -> Account | None:
    """``triochat account create --cluster URL``: the account in the network's Redis.

    None if the name is taken; ``ValueError`` if coredis is missing or Redis cannot
    be reached. Running nodes log it in at once, and reserve its nick as soon as they
    read the :class:`~.._cluster.events.AccountName` published here.
    """
    import trio

    try:
        from .._cluster.events import AccountName
        from .._cluster.redis import connect
        from .._cluster.shared import SharedRecords
    except ImportError as error:
        raise ValueError(f"cluster mode needs coredis ({error})") from error

    async def create() -> Account | None:
        async with connect(url, call_timeout=2.0, nick_ttl=60.0) as bus:
            records = SharedRecords(lambda: bus)
            account = await records.create(name, password_hash, scram, email=email, now=now)
            if account is not None:
                await bus.publish(AccountName(OWNER_TOOL, account.name, registered=True))
            return account

    try:
        return trio.run(create)
    except Exception as error:  # an outage, bare or inside coredis' exception groups
        while isinstance(error, ExceptionGroup):
            error = error.exceptions[0]
        raise ValueError(f"cannot reach {url}: {error}") from None
