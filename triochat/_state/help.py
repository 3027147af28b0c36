"""The server's HELP text: every command a client may send, with its syntax.

This is the IRC form of the original program's ``!commands`` list.
"""

from __future__ import annotations

from typing import Final

__all__ = ["HELP_INDEX", "HELP_TOPICS"]

#: command -> (syntax, what it does)
_COMMANDS: Final = {
    "AWAY": ("AWAY [:message]", "Mark yourself away with a message; no message marks you back."),
    "CAP": ("CAP LS|LIST|REQ|END", "Negotiate IRCv3 capabilities."),
    "CHATHISTORY": (
        "CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN|TARGETS ...",
        "Read back a channel's or a conversation's history (IRCv3 draft/chathistory).",
    ),
    "HELP": ("HELP [command]", "List the commands, or explain one."),
    "ISON": ("ISON nick...", "Tell which of the given nicknames are online."),
    "JOIN": ("JOIN #channel[,#channel]", "Join channels (creating them); JOIN 0 leaves all."),
    "KICK": ("KICK #channel nick [:reason]", "Remove someone from a channel (operators)."),
    "LIST": ("LIST [#channel,...]", "List channels with their member counts and topics."),
    "LUSERS": ("LUSERS", "Count the users and channels."),
    "MODE": ("MODE target [modes [args]]", "Show or change channel modes (+mnt, +o/+v nick)."),
    "MOTD": ("MOTD", "Show the message of the day."),
    "NAMES": ("NAMES [#channel]", "Show who is in a channel (the original !clients)."),
    "NICK": ("NICK nickname", "Choose or change your nickname."),
    "NOTICE": ("NOTICE target :text", "Like PRIVMSG, but never answered automatically."),
    "PART": ("PART #channel [:reason]", "Leave a channel."),
    "PASS": ("PASS password", "Give the server password, before NICK and USER."),
    "PING": ("PING token", "Check the connection; the server answers PONG."),
    "PRIVMSG": (
        "PRIVMSG target :text",
        "Talk to a channel, or privately to a nickname (the original !private).",
    ),
    "QUIT": ("QUIT [:reason]", "Leave the server (the original !exit)."),
    "TAGMSG": ("TAGMSG target", "Send only message tags (needs the message-tags capability)."),
    "TIME": ("TIME", "Show the server's time (the original !time)."),
    "TOPIC": ("TOPIC #channel [:topic]", "Show or set a channel's topic."),
    "USER": ("USER username 0 * :realname", "Register your username and real name."),
    "USERHOST": ("USERHOST nick...", "Show the user@host of up to five nicknames."),
    "VERSION": ("VERSION", "Show the server version and what it supports."),
    "WHO": ("WHO #channel|nick", "List the members of a channel, or one user."),
    "WHOIS": ("WHOIS nick", "Show who a user is, where, and how long idle."),
    "WHOWAS": ("WHOWAS nick", "History of a nickname (none is kept)."),
}

HELP_INDEX: Final = tuple(f"{syntax:<30} {summary}" for syntax, summary in _COMMANDS.values())
HELP_TOPICS: Final = {
    command: (syntax, summary) for command, (syntax, summary) in _COMMANDS.items()
}
