"""Quick questions in a room: asked, answered, closed, their results shown. The rules are
``questions``'s; this applies them, tells the participants and records what the register keeps.

What the record keeps: the question asked (by whom, what), each named answer (who chose what,
when) and the tally at the close. An anonymous answer is counted and nothing else: no event, no
log line, names nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from access.events import EventKind
from access.ids import uuid7
from access.models import PUBLISHERS, ClassRole

from .events import NotRecorded
from .participant import Participant
from .protocol import ProtocolError, server_message
from .questions import AskDraft, Question, QuestionRefused
from .seminar_room import SeminarMixin


class QuestionsMixin(SeminarMixin):
    """One quick question at a time: the teacher's or a presenting guest's."""

    question: Question | None = None
    # The clock the time limits are measured with (tests move it).
    question_clock: Callable[[], float] = time.monotonic
    _question_timer: asyncio.Task[None] | None = None

    async def join(
        self, p: Participant, *, rejoin: bool = False, welcome: dict[str, Any] | None = None
    ) -> None:
        await super().join(p, rejoin=rejoin, welcome=welcome)
        if self.participants.get(p.id) is p:
            await self._tell_question(p)  # a late joiner sees the question (and may answer)

    def _may_ask(self, pid: str) -> Participant:
        return self._require_presenter(pid, "Only the teacher or a presenter asks questions")

    async def ask(self, pid: str, draft: AskDraft) -> None:
        """Ask a question of everyone: it opens for its time limit, each learner may answer
        once. One the rules refuse (too few options, too long a limit) is answered with an
        error."""
        by = self._may_ask(pid)
        try:
            spec = draft.spec()
        except QuestionRefused as exc:
            await by.send("error", code=exc.code, message=exc.message)
            return
        now = self.question_clock()
        q = self.question
        if q is not None and q.is_open(now):
            await by.send(
                "error", code="question_open", message="Close the open question before the next"
            )
            return
        if q is not None and not q.closed:  # its time is over, its timer not yet run: the
            await self._close(q)  # tally is recorded before the next replaces it
        q = Question(str(uuid7()), spec, by.user_id, now, now + spec.seconds)
        self.question = q
        asked = self._outbox.emit(
            EventKind.QUESTION_ASKED,
            self.class_id,
            user_id=by.user_id,
            participant_id=by.id,
            role=by.role.value,
            data=q.ledger_data(),
        )
        with contextlib.suppress(NotRecorded):  # it stays pending; asked all the same
            await self._outbox.durable(asked)
        if self._question_timer is not None:
            self._question_timer.cancel()
        self._question_timer = self._start_timer(self._close_when_due(q), "a question's timer")
        await self._broadcast(server_message("question", question=q.public(now)))
        await self._tell_results(q)

    async def _close_when_due(self, q: Question) -> None:
        await asyncio.sleep(max(0.0, q.closes_at - self.question_clock()))
        await self._close(q)

    async def answer_question(self, pid: str, question_id: str, choices: Sequence[int]) -> None:
        """A learner answers the open question: counted once, within its time limit. A named
        answer is recorded (who, what, when); an anonymous one only counted."""
        p = self._get(pid)
        if p.role is not ClassRole.LEARNER:
            raise ProtocolError("not_allowed", "Only students answer questions")
        q = self.question
        if q is None or q.id != question_id:
            await p.send("error", code="no_question", message="There is no such question now")
            return
        try:
            chosen = q.answer(p.user_id, choices, self.question_clock())
        except QuestionRefused as exc:
            await p.send("error", code=exc.code, message=exc.message)
            return
        if not q.spec.anonymous:
            answered = self._outbox.emit(
                EventKind.QUESTION_ANSWERED,
                self.class_id,
                user_id=p.user_id,
                participant_id=p.id,
                role=p.role.value,
                data={"question": q.id, "choices": list(chosen)},
            )
            with contextlib.suppress(NotRecorded):  # it stays pending; counted as given
                await self._outbox.durable(answered)
        for tab in [t for t in self.participants.values() if t.user_id == p.user_id]:
            await tab.send("answer_taken", id=q.id, choices=list(chosen))
        await self._tell_results(q)

    async def close_question(self, pid: str, question_id: str) -> None:
        """The asker (or the teacher) closes the question before its time is over."""
        by = self._may_ask(pid)
        q = self.question
        if q is None or q.id != question_id:
            await by.send("error", code="no_question", message="There is no such question now")
            return
        await self._close(q)

    async def show_results(self, pid: str, question_id: str, shown: bool) -> None:
        """The teacher shows the results to everyone (or hides them again)."""
        by = self._may_ask(pid)
        q = self.question
        if q is None or q.id != question_id:
            await by.send("error", code="no_question", message="There is no such question now")
            return
        q.shown = shown
        if not shown:  # the learners' pages take the results away (and are sent none)
            text = server_message("question_results", id=q.id, shown=False)
            for p in list(self.participants.values()):
                if p.role not in PUBLISHERS:
                    await p.deliver(text)
        await self._tell_results(q)

    def _close_question_at_end(self) -> None:
        """The class ends with a question open: its close (the tally) is recorded first."""
        q = self.question
        if q is not None and q.close():
            self._record_close(q)
        if self._question_timer is not None:
            self._question_timer.cancel()
            self._question_timer = None

    def _record_close(self, q: Question) -> None:
        self._outbox.emit(
            EventKind.QUESTION_CLOSED,
            self.class_id,
            data={"question": q.id, "tally": list(q.tally), "answered": len(q.answered)},
        )

    async def _close(self, q: Question) -> None:
        if not q.close():
            return
        self._record_close(q)
        if self._question_timer is not None and self._question_timer is not asyncio.current_task():
            self._question_timer.cancel()
        self._question_timer = None
        now = self.question_clock()
        await self._broadcast(server_message("question", question=q.public(now)))
        await self._tell_results(q)

    async def _tell_question(self, p: Participant) -> None:
        q = self.question
        if q is None or self.ended:
            return
        now = self.question_clock()
        await p.send("question", question=q.public(now))
        if p.user_id in q.answered:  # a rejoin: the page shows it answered (an anonymous
            # answer's choices are not kept: it shows only that it did)
            await p.send("answer_taken", id=q.id, choices=list(q.answered[p.user_id] or ()))
        if p.role in PUBLISHERS or q.shown:
            await p.send("question_results", **q.results(now))

    async def _tell_results(self, q: Question) -> None:
        """The results: to the teacher and presenters always, to everyone once shown."""
        now = self.question_clock()
        learners = sum(1 for p in self.participants.values() if p.role is ClassRole.LEARNER)
        text = server_message("question_results", **q.results(now), present=learners)
        for p in list(self.participants.values()):
            if p.role in PUBLISHERS or q.shown:
                await p.deliver(text)
