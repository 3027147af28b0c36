"""Error replies from the server, said in plain words.

IRC error numerics carry what went wrong in their parameters (``401 me bob :No
such nick/channel``); the human text after them varies by server and is often
vague. :func:`describe_error` builds one clear sentence from the numeric and
its parameters instead, and falls back on the server's own words for numerics
it does not know.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .._irc import numerics as rpl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._irc.wire import Message

__all__ = ["describe_error", "is_error"]

# ``{0}`` and ``{1}`` are the parameters after the client's own nick.
# Numerics that _numerics does not name yet are written as literals.
_PHRASES: Final[Mapping[str, str]] = {
    rpl.ERR_NOSUCHNICK: "no such nick: {0}",
    "402": "no such server: {0}",  # ERR_NOSUCHSERVER
    rpl.ERR_NOSUCHCHANNEL: "no such channel: {0}",
    rpl.ERR_CANNOTSENDTOCHAN: "cannot send to {0}",
    rpl.ERR_TOOMANYCHANNELS: "cannot join {0}: you are in too many channels",
    rpl.ERR_TOOMANYTARGETS: "too many targets: {0}",
    rpl.ERR_NORECIPIENT: "no recipient given: say who the message is for",
    rpl.ERR_NOTEXTTOSEND: "no text to send",
    rpl.ERR_INPUTTOOLONG: "the server refused a line that was too long",
    rpl.ERR_UNKNOWNCOMMAND: "the server does not know the command {0}",
    rpl.ERR_NONICKNAMEGIVEN: "no nickname given",
    rpl.ERR_ERRONEUSNICKNAME: "{0} cannot be used as a nickname",
    rpl.ERR_NICKNAMEINUSE: "the nickname {0} is already in use",
    "436": "the nickname {0} collided with another one",  # ERR_NICKCOLLISION
    "437": "{0} is temporarily unavailable",  # ERR_UNAVAILRESOURCE
    rpl.ERR_USERNOTINCHANNEL: "{0} is not on {1}",
    rpl.ERR_NOTONCHANNEL: "you are not on {0}",
    "443": "{0} is already on {1}",  # ERR_USERONCHANNEL
    rpl.ERR_NOTREGISTERED: "the server has not finished registering you yet",
    rpl.ERR_NEEDMOREPARAMS: "not enough parameters for {0}",
    rpl.ERR_ALREADYREGISTERED: "you are already registered",
    rpl.ERR_PASSWDMISMATCH: "the password is wrong",
    rpl.ERR_YOUREBANNEDCREEP: "you are banned from this server",
    rpl.ERR_BANLISTFULL: "the {1} list of {0} is full",
    rpl.ERR_INVALIDKEY: "that key cannot be used for {0}",
    rpl.ERR_INVALIDMODEPARAM: "{0}: +{1} cannot be set to {2}",
    "471": "cannot join {0}: the channel is full",  # ERR_CHANNELISFULL
    rpl.ERR_UNKNOWNMODE: "unknown mode {0}",
    "473": "cannot join {0}: it is invite only",  # ERR_INVITEONLYCHAN
    "474": "cannot join {0}: you are banned",  # ERR_BANNEDFROMCHAN
    "475": "cannot join {0}: it needs a key",  # ERR_BADCHANNELKEY
    rpl.ERR_BADCHANMASK: "{0} is not a valid channel name",
    "481": "permission denied: you are not an IRC operator",  # ERR_NOPRIVILEGES
    rpl.ERR_CHANOPRIVSNEEDED: "you are not a channel operator of {0}",
    rpl.ERR_UMODEUNKNOWNFLAG: "unknown user mode",
    rpl.ERR_USERSDONTMATCH: "you cannot change the modes of other users",
}


def is_error(message: Message) -> bool:
    """True for the error numerics (400 to 599)."""
    return message.command.isdigit() and "400" <= message.command <= "599"


def describe_error(message: Message) -> str:
    """One plain sentence for an error numeric (see :func:`is_error`)."""
    phrase = _PHRASES.get(message.command)
    details = message.params[1:-1]  # after our nick, before the server's text
    if phrase is None or phrase.count("{") > len(details):
        said = " ".join(message.params[1:]) or "no details"
        return f"error {message.command} from the server: {said}"
    return phrase.format(*details)
