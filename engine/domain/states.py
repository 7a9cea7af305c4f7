"""The state machines of programmes and milestones, declared in one place.

Each machine is a table of transitions: an event, the states it may leave, and the state it
leads to. ``fire`` refuses anything else with an error that names the state and the event.
The service writes every transition to the event log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from engine.domain.errors import InvalidTransitionError
from engine.domain.model import MilestoneState, ProgrammeState, RequestState

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class Transition(Generic[S]):
    event: str
    sources: frozenset[S]
    target: S | None  # None: the state stays as it is (e.g. a reschedule)


@dataclass(frozen=True)
class StateMachine(Generic[S]):
    entity: str
    transitions: tuple[Transition[S], ...]
    terminal: frozenset[S]

    def fire(self, state: S, event: str) -> S:
        """The state after ``event`` in ``state``; raises InvalidTransitionError if refused."""
        for transition in self.transitions:
            if transition.event == event and state in transition.sources:
                return state if transition.target is None else transition.target
        raise InvalidTransitionError(self.entity, state.value, event, self.events_from(state))

    def is_terminal(self, state: S) -> bool:
        return state in self.terminal

    def can(self, state: S, event: str) -> bool:
        return event in self.events_from(state)

    def events_from(self, state: S) -> tuple[str, ...]:
        return tuple(t.event for t in self.transitions if state in t.sources)


def _t(event: str, sources: Iterable[S], target: S | None) -> Transition[S]:
    return Transition(event, frozenset(sources), target)


P = ProgrammeState
_LIVE_PROGRAMME = (P.PLANNED, P.RUNNING, P.PAUSED)

PROGRAMME = StateMachine[ProgrammeState](
    entity="programme",
    transitions=(
        _t("start", [P.PLANNED], P.RUNNING),
        _t("pause", [P.PLANNED, P.RUNNING], P.PAUSED),
        _t("resume", [P.PAUSED], P.PLANNED),  # then "start" at once if week 0 has begun
        _t("move", _LIVE_PROGRAMME, None),
        _t("edit", _LIVE_PROGRAMME, None),  # milestone done/skip/reschedule inside it
        _t("complete", [P.PLANNED, P.RUNNING], P.COMPLETED),
        _t("cancel", _LIVE_PROGRAMME, P.CANCELLED),
    ),
    terminal=frozenset({P.COMPLETED, P.CANCELLED}),
)

M = MilestoneState
_OPEN_MILESTONE = (M.PLANNED, M.SCHEDULED, M.OVERDUE)

MILESTONE = StateMachine[MilestoneState](
    entity="milestone",
    transitions=(
        _t("schedule", [M.PLANNED], M.SCHEDULED),  # invite queued, or task window opened
        _t("reschedule", _OPEN_MILESTONE, M.SCHEDULED),
        _t("move", _OPEN_MILESTONE, None),
        _t("done", _OPEN_MILESTONE, M.DONE),
        _t("skip", _OPEN_MILESTONE, M.SKIPPED),
        _t("expire", [M.PLANNED, M.SCHEDULED], M.OVERDUE),
        _t("cancel", _OPEN_MILESTONE, M.CANCELLED),
    ),
    terminal=frozenset({M.DONE, M.SKIPPED, M.CANCELLED}),
)

R = RequestState
_OPEN_REQUEST = (R.RECEIVED, R.PROPOSED)

REQUEST = StateMachine[RequestState](
    entity="request",
    transitions=(
        _t("propose", _OPEN_REQUEST, R.PROPOSED),  # start dates sent: the SLA is met
        _t("assign", _OPEN_REQUEST, None),  # a consultant takes the request
        _t("accept", _OPEN_REQUEST, R.ACCEPTED),  # a programme was created for it
        _t("decline", _OPEN_REQUEST, R.DECLINED),
    ),
    terminal=frozenset({R.ACCEPTED, R.DECLINED}),
)
