"""The HTTP/1.1 steps the web port and the metrics port share (``triochat._web.http1``)."""

from __future__ import annotations

import trio
import trio.testing

from triochat._web.http1 import (
    HttpResponse,
    finish_cycle,
    new_connection,
    read_request,
    send_response,
)


async def serve_one(request: bytes, response: HttpResponse, max_head: int = 16384) -> bytes:
    """One request in, at most one answer out, in memory; everything the client got."""
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(request)
    http = new_connection(max_head)
    with trio.fail_after(5):
        received = await read_request(server, http)
        if received is not None:
            await send_response(server, http, response, head=received.method == "HEAD")
        await server.aclose()
        data = b""
        while chunk := await client.receive_some(65536):
            data += chunk
    return data


async def test_a_head_longer_than_the_limit_is_refused_even_when_it_arrives_in_one_piece() -> None:
    # h11 measures only what is still incomplete, so the read size bounds the overshoot.
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 40_000 + b"\r\n\r\n"
    data = await serve_one(head, HttpResponse(200, [], b"never"))
    assert data.startswith(b"HTTP/1.1 431 ")
    assert b"never" not in data


async def test_head_gets_the_length_of_the_body_it_does_not_get() -> None:
    data = await serve_one(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", HttpResponse(200, [], b"12345"))
    assert b"Content-Length: 5\r\n" in data.replace(b"content-length", b"Content-Length")
    assert data.endswith(b"\r\n\r\n")


async def test_a_kept_alive_connection_answers_requests_in_turn_and_drops_unwanted_bodies() -> None:
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    http = new_connection(16384)
    paths = []
    with trio.fail_after(5):
        for _ in range(2):
            request = await read_request(server, http)
            assert request is not None
            paths.append(request.path)
            await send_response(server, http, HttpResponse(204))
            assert await finish_cycle(server, http, max_discarded_body=10)
    assert paths == ["/a", "/b"]


async def test_a_body_past_the_discard_limit_ends_the_connection() -> None:
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 100
    )
    http = new_connection(16384)
    with trio.fail_after(5):
        assert await read_request(server, http) is not None
        await send_response(server, http, HttpResponse(405))
        assert not await finish_cycle(server, http, max_discarded_body=10)
