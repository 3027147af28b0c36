"""Logging in and registering: SASL (``AUTHENTICATE``), ``REGISTER``, and their answers.

SASL runs during capability negotiation (IRCv3 ``sasl``): PLAIN,
SCRAM-SHA-256 (the state checks the proof itself against the stored
verifier, so only the lookup is asked of the service) and EXTERNAL (a TLS
client certificate an account has added). A wrong password, an unknown
account and a wrong proof all get the same 904: nothing says whether the
account exists. ``REGISTER`` is IRCv3 ``draft/account-registration``; the
e-mail address is optional, stored, and never verified.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._accounts.records import (
    AccountReply,
    CertLogin,
    Login,
    Lookup,
    Register,
)
from ..._accounts.sasl import (
    SaslTooLong,
    ScramServer,
    decoy_credentials,
    encode_chunks,
    parse_plain,
)
from ..._irc import numerics as rpl
from ..._irc.names import casefold
from ..accounts import TOO_MANY_FAILURES, Exchange, check_registration, login
from ..advertised import SASL_MECHANISMS
from ..effects import Ask
from ..registry import Commands
from . import services
from .registration import try_register

if TYPE_CHECKING:
    from ..._accounts.records import Account, AccountQuestion
    from ..._irc.wire import Message
    from ..machine import ServerState
    from ..model import Client

__all__ = ["commands", "show_answer", "show_failure"]

commands = Commands()


@commands.command(
    "AUTHENTICATE",
    syntax="AUTHENTICATE mechanism|data|*",
    summary="Log in to an account with SASL (PLAIN, SCRAM-SHA-256, EXTERNAL).",
    min_params=1,
    before_registration=True,
    needs="accounts",
)
def authenticate(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    argument = message.params[0]
    exchange = client.sasl
    if client.account is not None:
        out.numeric(client, rpl.ERR_SASLALREADY, "You have already authenticated using SASL")
        return
    if exchange is None:
        _start(state, client, argument.upper())
        return
    if exchange.mechanism == "PASS":  # a PASS login is being checked: not a SASL exchange
        return
    if argument == "*":
        client.sasl = None
        out.numeric(client, rpl.ERR_SASLABORTED, "SASL authentication aborted")
        try_register(state, client)
        return
    try:
        data = exchange.chunks.feed(argument)
    except SaslTooLong:
        client.sasl = None
        out.numeric(client, rpl.ERR_SASLTOOLONG, "SASL message too long")
        try_register(state, client)
        return
    except ValueError:
        _fail(state, client)
        return
    if data is not None:
        _step(state, client, exchange, data)


def _start(state: ServerState, client: Client, mechanism: str) -> None:
    out = state.replies
    if mechanism not in SASL_MECHANISMS:
        mechanisms = ",".join(SASL_MECHANISMS)
        out.numeric(client, rpl.RPL_SASLMECHS, mechanisms, "are available SASL mechanisms")
        out.numeric(client, rpl.ERR_SASLFAIL, "SASL authentication failed")
        return
    client.sasl = Exchange(mechanism)
    if mechanism == "SCRAM-SHA-256":
        client.sasl.scram = ScramServer(state.accounts.new_nonce())
    out.from_server(client, "AUTHENTICATE", "+")


def _step(state: ServerState, client: Client, exchange: Exchange, data: bytes) -> None:
    """The client's next complete SASL message."""
    if exchange.mechanism == "PLAIN":
        parsed = parse_plain(data)
        if parsed is None:
            _fail(state, client)
            return
        exchange.name, password = parsed
        _ask(state, client, exchange, Login(exchange.name, password, "sasl"))
    elif exchange.mechanism == "EXTERNAL":
        certfp = client.peer.certfp if client.peer is not None else None
        if certfp is None:
            _fail(state, client, "SASL EXTERNAL needs a TLS client certificate")
            return
        exchange.name = data.decode(errors="replace")  # an authorization identity, if any
        state.replies.add(Ask(client.conn, CertLogin(certfp, "sasl")))
    else:
        _scram_step(state, client, exchange, data)


def _scram_step(state: ServerState, client: Client, exchange: Exchange, data: bytes) -> None:
    scram = exchange.scram
    assert scram is not None
    if exchange.verified:  # the client's empty answer to the server-final message
        if data or exchange.account is None:
            _fail(state, client)
        else:
            _succeed(state, client, exchange.account)
        return
    if not exchange.name:  # client-first
        name = scram.client_first(data)
        if name is None:
            _fail(state, client)
            return
        exchange.name = name
        _ask(state, client, exchange, Lookup(name, "sasl"))
        return
    final = scram.client_final(data)
    if final is None or exchange.account is None:
        state.accounts.failed(client.host, exchange.name)
        _fail(state, client)
        return
    exchange.verified = True
    _send(state, client, final)


def _ask(state: ServerState, client: Client, exchange: Exchange, question: AccountQuestion) -> None:
    """Ask the service, unless this address or account failed too often lately."""
    if not state.accounts.may_try(client.host, exchange.name):
        _fail(state, client, TOO_MANY_FAILURES)
        return
    state.replies.add(Ask(client.conn, question))


def _send(state: ServerState, client: Client, data: bytes) -> None:
    for chunk in encode_chunks(data):
        state.replies.from_server(client, "AUTHENTICATE", chunk)


def _fail(state: ServerState, client: Client, text: str = "SASL authentication failed") -> None:
    client.sasl = None
    state.replies.numeric(client, rpl.ERR_SASLFAIL, text)
    try_register(state, client)


def _succeed(state: ServerState, client: Client, account: Account) -> None:
    client.sasl = None
    login(state, client, account)
    if not client.registered:
        services.reclaim(state, client)
    state.replies.numeric(client, rpl.RPL_SASLSUCCESS, "SASL authentication successful")
    try_register(state, client)


@commands.command(
    "REGISTER",
    syntax="REGISTER *|account *|email password",
    summary="Register an account named for your nick (IRCv3 draft/account-registration).",
    min_params=3,
    before_registration=True,
    needs="accounts",
)
def register(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    wanted, email, password = message.params[:3]
    if not client.has_nick:
        out.fail(client, "REGISTER", "NEED_NICK", "*", "Choose a nickname with NICK first")
        return
    name = client.nick if wanted == "*" else wanted
    if casefold(name) != casefold(client.nick):
        out.fail(client, "REGISTER", "BAD_ACCOUNT_NAME", name, "The account must be your nick")
        return
    refusal = check_registration(state, client, name, password, None if email == "*" else email)
    if refusal is not None:
        out.fail(client, "REGISTER", refusal[0], name, refusal[1])
        return
    question = Register(name, password, None if email == "*" else email, "register")
    out.add(Ask(client.conn, question))


# -- answers --------------------------------------------------------------------


def show_answer(
    state: ServerState, client: Client, question: AccountQuestion, reply: AccountReply
) -> None:
    """The accounts service answered ``question`` of ``client``."""
    if question.purpose == "register":
        _registered(state, client, question, reply)
    elif question.purpose in ("sasl", "pass"):
        _login_answer(state, client, question, reply)
    else:
        services.show_answer(state, client, question, reply)


def show_failure(state: ServerState, client: Client, question: AccountQuestion) -> None:
    """The accounts service failed (its database); say so, and let registration go on."""
    if question.purpose == "register":
        name = getattr(question, "name", "*")
        text = "Accounts are unavailable right now; try again later"
        state.replies.fail(client, "REGISTER", "TEMPORARILY_UNAVAILABLE", name, text)
    elif question.purpose in ("sasl", "pass"):
        if client.sasl is not None and client.sasl.mechanism == "PASS":
            client.sasl = None
            try_register(state, client)
        else:
            _fail(state, client, "Accounts are unavailable right now; try again later")
    else:
        services.show_failure(state, client)


def _login_answer(
    state: ServerState, client: Client, question: AccountQuestion, reply: AccountReply
) -> None:
    exchange = client.sasl
    if exchange is None:
        return
    if isinstance(question, Lookup):  # SCRAM: offer the verifier's salt (a decoy's if none)
        assert exchange.scram is not None
        exchange.account = reply.account
        credentials = (
            reply.account.scram
            if reply.account is not None
            else decoy_credentials(casefold(question.name), state.accounts.secret)
        )
        _send(state, client, exchange.scram.server_first(credentials))
        return
    account = reply.account
    if exchange.mechanism == "PASS":
        client.sasl = None
        if account is None:
            state.accounts.failed(client.host, exchange.name)
            why = "Login with PASS failed (wrong account or password); you have no account now"
            state.replies.server_notice(client, client.nick, why)
        else:
            login(state, client, account)
            services.reclaim(state, client)  # Ergo: PASS attaches like SASL
        try_register(state, client)
    elif account is None:
        if exchange.name:
            state.accounts.failed(client.host, exchange.name)
        _fail(state, client)
    elif exchange.name and casefold(exchange.name) != casefold(account.name):
        _fail(state, client)  # EXTERNAL asking to be another account than the certificate's
    else:
        _succeed(state, client, account)


def _registered(
    state: ServerState, client: Client, question: AccountQuestion, reply: AccountReply
) -> None:
    out = state.replies
    name = getattr(question, "name", "*")
    account = reply.account
    if account is None:
        out.fail(client, "REGISTER", reply.error or "ACCOUNT_EXISTS", name, f"{name} is taken")
        return
    state.accounts.names.add(casefold(account.name))
    note = "Account created; e-mail addresses are stored but never verified here"
    out.from_server(client, "REGISTER", "SUCCESS", account.name, note)
    login(state, client, account)
