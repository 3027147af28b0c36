"""triochat: a chat server and client on Trio's structured concurrency, speaking IRC.

The public API, re-exported from private modules (as trio does):

* the server: :func:`serve`, :class:`ChatServer`, :class:`ServerConfig`;
* the client: :func:`run_client`, :func:`connect`, :class:`ClientTimeouts`,
  :class:`ConnectError`;
* the wire format, without I/O: :class:`Message`, :func:`parse`,
  :func:`serialize`, :class:`LineReader`.
"""

from __future__ import annotations

from ._client import ClientTimeouts as ClientTimeouts
from ._client import ConnectError as ConnectError
from ._client import connect as connect
from ._client import run_client as run_client
from ._config import ServerConfig as ServerConfig
from ._irc import LineReader as LineReader
from ._irc import Message as Message
from ._irc import parse as parse
from ._irc import serialize as serialize
from ._server import ChatServer as ChatServer
from ._server import serve as serve

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
