"""Helpers for the ChanServ tests: room questions answered at once, as the service would.

:class:`RoomHarness` answers the registered-room questions with the real
:class:`~triochat._accounts.roomstore.RoomStore` (the one the accounts
service calls in its thread), beside the account questions.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from accounts_support import AccountHarness
from test_state import MOTD

from triochat._accounts.rooms import ROOM_QUESTIONS
from triochat._config import ServerConfig
from triochat._state.effects import Ask

if TYPE_CHECKING:
    from triochat._accounts.rooms import RoomQuestion
    from triochat._state.effects import ConnId, Effect

#: ChanServ's NOTICEs start with this.
CHANSERV = ":ChanServ!ChanServ@triochat NOTICE"


class RoomHarness(AccountHarness):
    """An :class:`AccountHarness` whose room questions are answered too."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        super().__init__(config)
        self.room_questions: list[RoomQuestion] = []

    def _answered(self, effects: list[Effect]) -> list[Effect]:
        done: list[Effect] = []
        for effect in effects:
            if isinstance(effect, Ask) and isinstance(effect.question, ROOM_QUESTIONS):
                done.append(effect)
                self.room_questions.append(effect.question)
                reply = self.store.rooms.answer(effect.question)
                done.extend(self._answered(self.state.answer(effect.conn, effect.question, reply)))
            else:
                done.extend(super()._answered([effect]))
        return done

    def user(self, nick: str, *, account: bool = True) -> ConnId:
        """A registered client called ``nick``, logged in to its own account when ``account``."""
        if account:
            self.create(nick, "secret1")
        conn = self.register(nick)
        if account:
            assert self.cs_like(conn, "NickServ", "IDENTIFY secret1")[-1].startswith("You are now")
        return conn

    def cs_like(self, conn: ConnId, service: str, text: str) -> list[str]:
        """The texts of the NOTICEs ``service`` sent ``conn`` for ``/msg service text``."""
        out = self.feed(conn, f"PRIVMSG {service} :{text}")
        prefix = f":{service}!{service}@triochat NOTICE "
        return [line.split(" :", 1)[1] for line in out.to(conn) if line.startswith(prefix)]

    def cs(self, conn: ConnId, text: str) -> list[str]:
        return self.cs_like(conn, "ChanServ", text)


def harness(**changes: object) -> RoomHarness:
    return RoomHarness(replace(ServerConfig(motd=MOTD), **changes))  # type: ignore[arg-type]
