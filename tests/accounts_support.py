"""Helpers for the account tests: a synchronous stand-in for the accounts service.

The state asks (:class:`~triochat._state.effects.Ask`); these helpers answer
as the real service would, against a real :class:`AccountStore` (in memory),
with the real hashing, so the state tests check the whole exchange.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from test_state import Harness, Outcome

from triochat._accounts.hashing import make_secrets, verify_password
from triochat._accounts.records import (
    ACCOUNT_QUESTIONS,
    AccountReply,
    CertChange,
    CertLogin,
    Drop,
    Login,
    Lookup,
    Register,
    SetPassword,
)
from triochat._accounts.store import AccountStore
from triochat._state.effects import Ask

if TYPE_CHECKING:
    from triochat._accounts.records import AccountQuestion
    from triochat._config import ServerConfig
    from triochat._state.effects import ConnId, Effect


def b64(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return base64.b64encode(data).decode()


def reply_to(store: AccountStore, question: AccountQuestion, now: float) -> AccountReply:
    """What :class:`~triochat._accounts.service.AccountService` answers, synchronously."""
    if isinstance(question, Login):
        found = store.get(question.name)
        ok = verify_password(found[1] if found else None, question.password)
        return AccountReply(found[0] if ok and found else None)
    if isinstance(question, Lookup):
        found = store.get(question.name)
        return AccountReply(found[0] if found else None)
    if isinstance(question, CertLogin):
        return AccountReply(store.by_cert(question.certfp))
    if isinstance(question, Register):
        password_hash, scram = make_secrets(question.password)
        account = store.create(question.name, password_hash, scram, email=question.email, now=now)
        return AccountReply(account, "" if account else "ACCOUNT_EXISTS")
    if isinstance(question, Drop):
        store.drop(question.account_id)
        return AccountReply(None)
    if isinstance(question, SetPassword):
        password_hash, scram = make_secrets(question.password)
        return AccountReply(store.set_password(question.account_id, password_hash, scram))
    assert isinstance(question, CertChange)
    return AccountReply(store.change_cert(question.account_id, question.certfp, add=question.add))


class AccountHarness(Harness):
    """A :class:`Harness` whose account questions are answered at once, as the server would."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        super().__init__(config)
        self.store = AccountStore(":memory:")
        self.asked: list[AccountQuestion] = []
        self.state.accounts.new_nonce = lambda: "servernonce"

    def _answered(self, effects: list[Effect]) -> list[Effect]:
        done: list[Effect] = []
        for effect in effects:
            done.append(effect)
            if isinstance(effect, Ask) and isinstance(effect.question, ACCOUNT_QUESTIONS):
                self.asked.append(effect.question)
                reply = reply_to(self.store, effect.question, self.clock.now)
                more = self.state.answer(effect.conn, effect.question, reply)
                done.extend(self._answered(more))
        return done

    def feed(self, conn: ConnId, line: str | bytes) -> Outcome:
        return Outcome(self._answered(super().feed(conn, line).effects))

    def create(self, name: str, password: str) -> None:
        """An account made by the owner (``triochat account create``), known to the state."""
        password_hash, scram = make_secrets(password)
        assert self.store.create(name, password_hash, scram, email=None, now=self.clock.now)
        self.state.preload_accounts([name])

    def start(self, nick: str, host: str | None = None) -> ConnId:
        """Connect, negotiate ``sasl`` and send NICK/USER, but not CAP END."""
        conn = self.connect(host)
        self.feed_all(conn, "CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", f"USER {nick} 0 * :R")
        return conn

    def plain(self, conn: ConnId, account: str, password: str) -> Outcome:
        """A whole SASL PLAIN exchange; the outcome of its last line."""
        assert self.feed(conn, "AUTHENTICATE PLAIN").to(conn) == [":triochat AUTHENTICATE +"]
        payload = b64(f"{account}\0{account}\0{password}")
        return self.feed(conn, f"AUTHENTICATE {payload}")
