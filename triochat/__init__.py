"""triochat: a chat server and client on Trio's structured concurrency, speaking IRC.

The public API, re-exported from private modules (as trio does):

* the server: :func:`serve`, :class:`ChatServer`, :class:`ServerConfig`;
* the client: :func:`run_client`, :func:`connect`, :class:`ClientTimeouts`,
  :class:`ConnectError`;
* the wire format, without I/O: :class:`Message`, :func:`parse`,
  :func:`serialize`, :class:`LineReader`.
"""

from __future__ import annotations

from ._client.session import ClientTimeouts as ClientTimeouts
from ._client.session import ConnectError as ConnectError
from ._client.session import connect as connect
from ._client.session import run_client as run_client
from ._config import ServerConfig as ServerConfig
from ._irc.wire import LineReader as LineReader
from ._irc.wire import Message as Message
from ._irc.wire import parse as parse
from ._irc.wire import serialize as serialize
from ._server.server import ChatServer as ChatServer
from ._server.server import serve as serve

__all__ = [
    "ChatServer",
    "ClientTimeouts",
    "ConnectError",
    "LineReader",
    "Message",
    "ServerConfig",
    "connect",
    "parse",
    "run_client",
    "serialize",
    "serve",
]
