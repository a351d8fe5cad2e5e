"""An assisted session's record (issue 16): the evidence of one session, of its own.

Written once, when the session ends, into the chain `<target>.assist`
(`domain.models.assist_chain`), beside the journey's probes' chain: it is hashed, linked,
checkpointed and verified like any observation, and `watchdog verify` checks it against the
reads it names (watchdog/store/verify.py). The observation that holds it starts when the page
was parked at the captcha and finishes when the session ended; its outcome is the captcha
that opened the session (`captcha`, detail `assisted_session`), so that no reader takes it
for an attempt at a booking. The reads themselves stay in the journey's chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from watchdog.domain.models import AssistRecord, Env, Observation, Outcome, assist_chain

if TYPE_CHECKING:
    from watchdog.assist.desk import AssistedSession

DETAIL = "assisted_session"


def session_record(session: AssistedSession, software: str, *, simulated: bool) -> Observation:
    """The record of `session`, which has ended."""
    parked, ended = session.parked_at, session.ended_at or session.parked_at
    solved = session.solved_at
    record = AssistRecord(
        session=session.id,
        target=session.target.id,
        solved_after_s=round((solved - parked).total_seconds(), 1) if solved else None,
        end=session.ended_because or "unknown",
        wrong_answers=session.wrong_answers,
        frames=list(session.frames),
        reads=list(session.read_refs),
    )
    env = Env(
        software=software,
        fresh_context=False,
        simulated=simulated,
        captcha_solved_by="person" if solved is not None else None,
        assisted_session=session.id,
    )
    return Observation(
        id=session.id,
        target=assist_chain(session.target.id),
        outcome=Outcome.CAPTCHA,
        detail=DETAIL,
        started_at=parked,
        finished_at=ended,
        duration_s=round((ended - parked).total_seconds(), 3),
        final_url=session.target.url,
        env=env,
        assist=record,
    )
