"""One tag policy for live messages and replays (``triochat._irc.tags``)."""

from __future__ import annotations

import pytest

from triochat._irc.tags import (
    ALL_TAGS,
    NO_TAGS,
    receives_client_tags,
    tag_variant,
    visible_tags,
)

TAGS = {
    "time": "2024-01-02T03:04:05.678Z",
    "account": "alice",
    "msgid": "abc",
    "+draft/react": "x",
}


@pytest.mark.parametrize(
    ("caps", "expected"),
    [
        ((), {}),
        (("server-time",), {"time": TAGS["time"]}),
        (("message-tags",), {"account": "alice", "msgid": "abc", "+draft/react": "x"}),
        (("server-time", "message-tags", "batch"), TAGS),
        # A tag goes to message-tags clients OR to those of the capability that defines it.
        (("account-tag",), {"account": "alice"}),
        (("server-time", "account-tag"), {"time": TAGS["time"], "account": "alice"}),
        (
            ("account-tag", "message-tags"),
            {"account": "alice", "msgid": "abc", "+draft/react": "x"},
        ),
    ],
)
def test_capabilities_choose_the_tags(caps: tuple[str, ...], expected: dict[str, str]) -> None:
    assert dict(visible_tags(TAGS, tag_variant(caps))) == expected


def test_variants_name_the_extremes() -> None:
    assert tag_variant(()) == NO_TAGS
    assert tag_variant(("server-time", "message-tags")) == ALL_TAGS
    assert receives_client_tags(tag_variant(("message-tags",)))
    assert not receives_client_tags(tag_variant(("server-time",)))
    assert not receives_client_tags(tag_variant(("account-tag",)))
    assert tag_variant(("server-time", "account-tag", "message-tags")) == ALL_TAGS
