"""IRC messages on the wire, without any I/O (the h11 / wsproto model).

Rule 1: every rule of the wire format lives in this file. Nothing here imports
trio or touches a socket: bytes go in, :class:`Message` objects come out, and
messages go back to bytes.

* :class:`LineReader` splits a byte stream into lines, in bounded space: a
  line longer than :data:`MAX_LINE_BYTES` is never buffered whole, it is
  reported as :data:`LINE_TOO_LONG` and skipped up to its newline.
* :func:`parse` turns one line into a :class:`Message`, following the Modern
  IRC grammar (IRCv3 message tags included).
* :func:`serialize` turns a message back into one CRLF-terminated line and
  refuses to write anything that could break framing (CR, LF or NUL in a
  parameter or tag key, a space in a middle parameter).

Errors raised for bad input are :class:`RemoteProtocolError` subclasses, each
carrying the command it concerns so that the caller can answer precisely.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "LINE_TOO_LONG",
    "MAX_BODY_BYTES",
    "MAX_LINE_BYTES",
    "MAX_PARAMS",
    "MAX_TAGS_BYTES",
    "InvalidUtf8",
    "LineReader",
    "LineTooLong",
    "LocalProtocolError",
    "MalformedMessage",
    "Message",
    "ProtocolError",
    "RemoteProtocolError",
    "TooManyParams",
    "parse",
    "serialize",
    "with_tags",
]

#: The body of a line (source, command, parameters), CRLF included (RFC 1459).
MAX_BODY_BYTES: Final = 512
#: The tags section of a line, leading ``@`` and trailing space included (IRCv3).
MAX_TAGS_BYTES: Final = 8191
#: The longest line :class:`LineReader` will hold, whatever it contains.
MAX_LINE_BYTES: Final = MAX_TAGS_BYTES + MAX_BODY_BYTES
#: Parameters a message may carry (Modern IRC).
MAX_PARAMS: Final = 15

EMPTY_TAGS: Final[Mapping[str, str]] = MappingProxyType({})

_FORBIDDEN_IN_PARAM: Final = ("\r", "\n", "\0")
# A tag key ends at "=", ";" or a space, and no part of a line may hold CR, LF or NUL.
_FORBIDDEN_IN_TAG_KEY: Final = frozenset(" ;=\r\n\0")
_TAG_ESCAPES: Final = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_TAG_SPECIAL: Final = re.compile("[; \\\\\r\n\0]")  # what _TAG_UNESCAPE_TABLE changes
_TAG_UNESCAPE_TABLE: Final = str.maketrans(
    {";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n", "\0": ""}
)


class ProtocolError(Exception):
    """Something broke the IRC wire rules.

    As in h11, the subclass says whose fault it is: :class:`RemoteProtocolError`
    for bytes the peer sent, :class:`LocalProtocolError` for a message we were
    asked to write.
    """


class LocalProtocolError(ProtocolError):
    """We were asked to serialize a message that cannot be written safely."""


class RemoteProtocolError(ProtocolError):
    """The peer sent a line that breaks the rules.

    ``command`` is the command the line carried, upper-cased, when one could be
    read (``"*"`` otherwise), so that error replies can name it.
    """

    def __init__(self, reason: str, command: str = "*") -> None:
        super().__init__(reason)
        self.reason = reason
        self.command = command


class LineTooLong(RemoteProtocolError):
    """The line is longer than the limits (answered with ``417``)."""


class InvalidUtf8(RemoteProtocolError):
    """The line is not valid UTF-8 (answered with ``FAIL <command> INVALID_UTF8``)."""


class TooManyParams(RemoteProtocolError):
    """The line carries more than :data:`MAX_PARAMS` parameters (answered with ``461``)."""


class MalformedMessage(RemoteProtocolError):
    """The line does not follow the message grammar (NUL byte, no command, ...)."""


class _LineTooLongMarker(enum.Enum):
    LINE_TOO_LONG = "LINE_TOO_LONG"


#: Yielded by :meth:`LineReader.lines` in place of a line that was too long.
LINE_TOO_LONG: Final = _LineTooLongMarker.LINE_TOO_LONG


class LineReader:
    """Split a byte stream into lines, holding at most ``max_line_bytes``.

    Lines end in LF; a CR before it is dropped, so both ``\\r\\n`` and ``\\n``
    work. Empty lines are skipped (Modern IRC says to ignore them). Already
    scanned bytes are never scanned again, so feeding one byte at a time stays
    linear (the trick of h11's ``ReceiveBuffer``).

    A line that grows past the limit is reported once, as
    :data:`LINE_TOO_LONG`, as soon as the limit is crossed; its bytes are
    dropped up to and including the next LF, and reading goes on after it.
    """

    __slots__ = ("_buffer", "_max", "_ready", "_scanned", "_skipping")  # one per connection

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._max = max_line_bytes
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer known to hold no LF
        self._skipping = False  # inside an over-long line, dropping until LF
        self._ready: list[bytes | _LineTooLongMarker] = []  # split off, not yet taken

    @property
    def buffered(self) -> int:
        """Bytes held for a line not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray) -> None:
        """Add bytes received from the peer.

        Complete lines are split off at once, so the limit holds after every
        call, even when :meth:`lines` is not called in between.
        """
        self._buffer += data
        self._split()

    def lines(self) -> list[bytes | _LineTooLongMarker]:
        """Take every complete line fed so far (without its line ending)."""
        found, self._ready = self._ready, []
        return found

    def _split(self) -> None:
        found = self._ready
        buffer = self._buffer
        start = 0
        while True:
            end = buffer.find(b"\n", max(start, self._scanned))
            if end == -1:
                break
            if self._skipping:
                self._skipping = False
            else:
                stop = end - 1 if end > start and buffer[end - 1] == 0x0D else end
                if stop - start > self._max:
                    found.append(LINE_TOO_LONG)
                elif stop > start:
                    found.append(bytes(buffer[start:stop]))
            start = end + 1
        if start:
            del buffer[:start]
        self._scanned = len(buffer)
        if len(buffer) > self._max + 1:  # +1: room for the CR of a full-length line
            buffer.clear()
            self._scanned = 0
            if not self._skipping:
                self._skipping = True
                found.append(LINE_TOO_LONG)


@dataclass(frozen=True, slots=True)
class Message:
    """One IRC message: optional tags and source, a command, its parameters.

    ``command`` is upper-case (numerics are three digits). ``params`` holds
    every parameter, the trailing one included, without any leading ``:``.
    """

    command: str
    params: tuple[str, ...] = ()
    source: str | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: EMPTY_TAGS)

    def param(self, index: int, default: str = "") -> str:
        """The parameter at ``index``, or ``default`` when there is none."""
        return self.params[index] if index < len(self.params) else default


def _unescape_tag_value(value: str) -> str:
    if "\\" not in value:
        return value
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append(_TAG_ESCAPES.get(following, following))
        else:
            out.append(char)
    return "".join(out)


def _parse_tags(raw: str) -> Mapping[str, str]:
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        if not item:
            continue
        key, _, value = item.partition("=")
        if not key or key == "+":
            continue
        tags[key] = _unescape_tag_value(value)
    return tags


def _command_of(text: str) -> str:
    """Best guess at the command of a line that failed to parse."""
    words = [word for word in text.split(" ") if word]
    while words and words[0][:1] in ("@", ":"):
        words.pop(0)
    command = words[0].upper() if words else "*"
    return command if command.isascii() and command.isalnum() else "*"


def parse(line: bytes) -> Message:
    """Parse one line (without its line ending) into a :class:`Message`.

    Raises :class:`RemoteProtocolError` (a subclass of it) when the line is
    over-long, not UTF-8, has a NUL byte, has no command, or has too many
    parameters.
    """
    tags_section = b""
    body = line
    if line.startswith(b"@"):
        space = line.find(b" ")
        tags_section, body = (line, b"") if space == -1 else (line[:space], line[space + 1 :])
        if len(tags_section) + 1 > MAX_TAGS_BYTES:
            raise LineTooLong("tags section too long", _command_of(body.decode(errors="replace")))
    if len(body) + 2 > MAX_BODY_BYTES and len(body.lstrip(b" ")) + 2 > MAX_BODY_BYTES:
        raise LineTooLong("line too long", _command_of(body.decode(errors="replace")))
    try:
        text = body.decode()
        raw_tags = tags_section[1:].decode()
    except UnicodeDecodeError:
        command = _command_of(body.decode(errors="replace"))
        raise InvalidUtf8("line is not valid UTF-8", command) from None
    if "\0" in text or "\0" in raw_tags:
        raise MalformedMessage("line contains a NUL byte", _command_of(text.replace("\0", " ")))
    if "\r" in text or "\n" in text or "\r" in raw_tags or "\n" in raw_tags:
        # A bare CR (or a LF) may appear nowhere in a message, and serialize()
        # refuses to write one: accepting it would make the message unrelayable.
        raise MalformedMessage("line contains a CR or LF", _command_of(text))

    rest = text.lstrip(" ")
    source: str | None = None
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    command, _, rest = rest.partition(" ")
    if not command:
        raise MalformedMessage("line has no command")
    # ASCII first: str.upper() maps some non-ASCII letters to ASCII ones
    # (dotless i to "I", long s to "S"), which would forge a real command.
    if not (command.isascii() and command.isalnum()):
        raise MalformedMessage(f"invalid command {command[:20]!r}")
    command = command.upper()

    # Middle parameters are separated by runs of spaces; the first one that
    # starts with ":" is the trailing parameter, which takes the rest as it is.
    rest = rest.lstrip(" ")
    if rest.startswith(":"):
        params = [rest[1:]]
    else:
        middle, colon, trailing = rest.partition(" :")
        params = [param for param in middle.split(" ") if param]
        if colon:
            params.append(trailing)
    if len(params) > MAX_PARAMS:
        raise TooManyParams(f"more than {MAX_PARAMS} parameters", command)
    tags = _parse_tags(raw_tags) if raw_tags else EMPTY_TAGS
    return Message(command, tuple(params), source or None, tags)


def _unwritable(message: Message) -> LocalProtocolError:
    """Why ``message`` cannot be written (the slow path, once a cheap check has failed)."""
    source = message.source
    if source is not None and (not source or any(c in source for c in " \r\n\0")):
        return LocalProtocolError(f"source cannot be written: {source!r}")
    command = message.command
    if not command or not (command.isascii() and command.isalnum()):
        return LocalProtocolError(f"command cannot be written: {command!r}")
    last = len(message.params) - 1
    for i, param in enumerate(message.params):
        if any(bad in param for bad in _FORBIDDEN_IN_PARAM):
            return LocalProtocolError(f"parameter contains CR, LF or NUL: {param!r}")
        if i < last and (not param or " " in param or param.startswith(":")):
            return LocalProtocolError(f"middle parameter cannot be written: {param!r}")
    raise AssertionError(f"{message!r} can be written")  # pragma: no cover


def _body(message: Message) -> str:
    """Source, command and parameters, CRLF-terminated: the line without its tags.

    Every chat line is written here, so the checks are cheap ones over the
    whole line; only a message that fails them is looked at part by part.
    """
    command = message.command
    if not (command.isascii() and command.isalnum()):  # "" is not alphanumeric either
        raise _unwritable(message)
    params = message.params
    if params:
        last = params[-1]
        if not last or " " in last or last[0] == ":":
            last = ":" + last
        if len(params) == 1:
            line = f"{command} {last}"
        else:
            middle = params[:-1]
            for param in middle:
                if not param or " " in param or param[0] == ":":
                    raise _unwritable(message)
            line = f"{command} {' '.join(middle)} {last}"
    else:
        line = command
    source = message.source
    if source is not None:
        if not source or " " in source:
            raise _unwritable(message)
        line = f":{source} {line}"
    # The command is alphanumeric and tag values are escaped: a CR, LF or NUL
    # here came from the source or a parameter, and would break the framing.
    if "\r" in line or "\n" in line or "\0" in line:
        raise _unwritable(message)
    return line + "\r\n"


def _escape_tag_value(value: str) -> str:
    """``value`` as a tag value is written (IRCv3 escapes).

    Most values (times, message ids) have nothing to escape: one regex scan
    in C says so, where translate() looks every character up in a dict.
    """
    return value.translate(_TAG_UNESCAPE_TABLE) if _TAG_SPECIAL.search(value) else value


def _tags_section(tags: Mapping[str, str]) -> str:
    """``@key=value;...`` and the space after it, escaped; raise if a key cannot be written."""
    for key in tags:
        if not key or not _FORBIDDEN_IN_TAG_KEY.isdisjoint(key):
            raise LocalProtocolError(f"tag key cannot be written: {key!r}")
    encoded = ";".join(
        f"{key}={_escape_tag_value(value)}" if value else key for key, value in tags.items()
    )
    return f"@{encoded} "


def serialize(message: Message, *, tags: Mapping[str, str] | None = None) -> bytes:
    """Write ``message`` as one CRLF-terminated line.

    ``tags`` overrides the message's own tags (the fan-out passes only the tags
    a recipient negotiated). Raises :class:`LocalProtocolError` rather than
    write a line that could be mis-framed.
    """
    tags = message.tags if tags is None else tags
    if tags:
        return (_tags_section(tags) + _body(message)).encode()
    return _body(message).encode()


def with_tags(tags: Mapping[str, str], untagged: bytes) -> bytes:
    """``untagged`` (``serialize(message, tags={})``) with ``tags`` written before it.

    The fan-out writes the body of a message once and adds each recipient
    variant's tags to it, instead of writing the whole line per variant.
    """
    if not tags:
        return untagged
    return _tags_section(tags).encode() + untagged
