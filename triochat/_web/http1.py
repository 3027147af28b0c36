"""One HTTP/1.1 request at a time with h11: the steps the web port and the metrics port share.

h11 keeps the protocol's state; these few coroutines move its bytes over a
trio stream. A caller's loop is ``read_request`` → answer → ``send_response``
→ ``finish_cycle``, each bounded by the caller's own timeout. Nothing here
decides what to answer, and nothing here raises for a malformed request: it
is answered (400, 431) and the connection ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Final

import h11

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import trio

__all__ = [
    "RECEIVE_BYTES",
    "HttpRequest",
    "HttpResponse",
    "finish_cycle",
    "new_connection",
    "plain_error",
    "read_request",
    "send_response",
]

#: Small reads: h11 limits only a head still incomplete after a read, so a long
#: head that arrives whole in one big read would be parsed; with small reads
#: no head longer than the limit plus one read gets through.
RECEIVE_BYTES: Final = 4096
#: Statuses that never carry a body, so never a Content-Length of ours.
_BODILESS: Final = frozenset({204, 304})


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request's head; the body, if any, is read and dropped by :func:`finish_cycle`."""

    method: str
    target: str
    #: Lower-case names; a repeated header's values joined with ``,``.
    headers: dict[str, str]

    @property
    def path(self) -> str:
        """The target without its query string or fragment."""
        return self.target.split("?", 1)[0].split("#", 1)[0]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def new_connection(max_request_head: int) -> h11.Connection:
    """The server side of one HTTP connection; a longer request head gets 431."""
    return h11.Connection(h11.SERVER, max_incomplete_event_size=max_request_head)


def plain_error(status: int) -> HttpResponse:
    """The least an error answer needs: its reason phrase as text, never cached."""
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]
    return HttpResponse(status, headers, f"{HTTPStatus(status).phrase}\n".encode())


async def read_request(
    stream: trio.abc.Stream,
    http: h11.Connection,
    refuse: Callable[[int], HttpResponse] = plain_error,
) -> HttpRequest | None:
    """The next request's head, or None when the connection ends instead.

    None covers the peer closing, a connection h11 has paused (after a
    refused upgrade) and a malformed request, answered first with
    ``refuse(status)`` (400, or 431 for a head that is too long).
    """
    try:
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                http.receive_data(bytes(await stream.receive_some(RECEIVE_BYTES)))
            elif isinstance(event, h11.Request):
                return HttpRequest(
                    event.method.decode("ascii", "replace"),
                    event.target.decode("ascii", "replace"),
                    _header_dict(event.headers),
                )
            else:
                return None
    except h11.RemoteProtocolError as error:
        if http.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            await send_response(stream, http, refuse(error.error_status_hint), close=True)
        return None


async def send_response(
    stream: trio.abc.Stream,
    http: h11.Connection,
    response: HttpResponse,
    *,
    head: bool = False,
    close: bool = False,
) -> None:
    """Send ``response`` whole; ``head`` keeps its body back (a HEAD request).

    A Content-Length is added when the response has none, so that a
    kept-alive client knows where the answer ends without chunking.
    """
    headers = list(response.headers)
    if response.status not in _BODILESS and not any(
        name.lower() == "content-length" for name, _ in headers
    ):
        headers.append(("Content-Length", str(len(response.body))))
    if close:
        headers.append(("Connection", "close"))
    reason = HTTPStatus(response.status).phrase.encode()
    data = http.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
    data = data or b""
    if response.body and not head:
        data += http.send(h11.Data(data=response.body)) or b""
    data += http.send(h11.EndOfMessage()) or b""
    await stream.send_all(data)


async def finish_cycle(
    stream: trio.abc.Stream, http: h11.Connection, *, max_discarded_body: int
) -> bool:
    """Drop what is left of the request and get ready for the next; False if the connection ends.

    It ends when either side asked to close, the peer closed, or the body we
    never wanted grows past ``max_discarded_body``.
    """
    if http.our_state is h11.MUST_CLOSE or http.their_state is h11.MUST_CLOSE:
        return False
    discarded = 0
    while http.their_state is not h11.DONE:
        event = http.next_event()
        if event is h11.NEED_DATA:
            http.receive_data(bytes(await stream.receive_some(RECEIVE_BYTES)))
        elif isinstance(event, h11.Data):
            discarded += len(event.data)
            if discarded > max_discarded_body:
                return False
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return False
    if http.our_state is not h11.DONE:
        return False
    http.start_next_cycle()
    return True


def _header_dict(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names (h11 gives them so), repeated headers joined with ``,``."""
    result: dict[str, str] = {}
    for name, value in headers:
        key = name.decode("ascii", "replace").lower()
        text = value.decode("latin-1")
        result[key] = f"{result[key]}, {text}" if key in result else text
    return result
