"""``tx.courses``: the BASIS course calendar and its registrations.

A registration stores only a name, an e-mail address and an organisation (docs/courses.md,
"What is stored"); :meth:`Courses.forget` erases a person's registrations everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func
from sqlmodel import col, select

from engine.domain.errors import NotFoundError
from engine.store.base import Repository
from engine.store.tables import Course, CourseRegistration

REGISTERED = "registered"
WAITLISTED = "waitlisted"


class Courses(Repository):
    """``tx.courses``: courses and who is registered or waiting."""

    def add(self, course: Course) -> Course:
        added: Course = self.unit.save(course)
        return added

    def get(self, course_id: int, *, for_update: bool = False) -> Course:
        """The course; ``for_update`` locks its row against concurrent commands."""
        if not for_update:
            course: Course = self.unit.get(Course, course_id, "course")
            return course
        statement = self.backend.for_update(select(Course).where(col(Course.id) == course_id))
        locked = self.session.exec(statement).first()
        if locked is None:
            raise NotFoundError("course", course_id)
        return locked

    def find(
        self, *, states: Sequence[str] | None = None, ending_after: datetime | None = None
    ) -> list[Course]:
        """Courses in order of their start (and id)."""
        statement = select(Course).order_by(col(Course.start_at), col(Course.id))
        if states:
            statement = statement.where(col(Course.state).in_(states))
        if ending_after is not None:
            statement = statement.where(col(Course.end_at) > ending_after)
        return list(self.session.exec(statement))

    def registrations(self, course_id: int) -> list[CourseRegistration]:
        """Registered people first, then the waiting list, each in order."""
        statement = (
            select(CourseRegistration)
            .where(col(CourseRegistration.course_id) == course_id)
            .order_by(
                col(CourseRegistration.state) != REGISTERED,
                col(CourseRegistration.position),
                col(CourseRegistration.id),
            )
        )
        return list(self.session.exec(statement))

    def registration(self, course_id: int, email: str) -> CourseRegistration | None:
        statement = select(CourseRegistration).where(
            col(CourseRegistration.course_id) == course_id,
            col(CourseRegistration.email) == email.lower(),
        )
        return self.session.exec(statement).first()

    def next_position(self, course_id: int) -> int:
        statement = select(func.max(CourseRegistration.position)).where(
            col(CourseRegistration.course_id) == course_id
        )
        highest = self.session.exec(statement).first()
        return int(highest or 0) + 1

    def add_registration(self, registration: CourseRegistration) -> CourseRegistration:
        added: CourseRegistration = self.unit.save(registration)
        return added

    def remove_registration(self, registration: CourseRegistration) -> None:
        self.unit.touch()
        self.unit.delete(registration)

    def counts(self, course_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """(registered, waitlisted) per course."""
        if not course_ids:
            return {}
        statement = (
            select(CourseRegistration.course_id, CourseRegistration.state, func.count())
            .where(col(CourseRegistration.course_id).in_(course_ids))
            .group_by(col(CourseRegistration.course_id), col(CourseRegistration.state))
        )
        found: dict[int, tuple[int, int]] = {ident: (0, 0) for ident in course_ids}
        for course_id, state, count in self.session.exec(statement):
            registered, waiting = found[course_id]
            if state == REGISTERED:
                registered = int(count)
            else:
                waiting = int(count)
            found[course_id] = (registered, waiting)
        return found

    def with_email(self, email: str) -> list[CourseRegistration]:
        """Every registration of ``email``, on any course."""
        statement = select(CourseRegistration).where(
            col(CourseRegistration.email) == email.strip().lower()
        )
        return list(self.session.exec(statement))

    def forget(self, email: str) -> int:
        """Erase every course registration of ``email``; returns how many. (Called by
        ``fbh participant forget``; seats freed here are not given to the waiting list.)"""
        statement = delete(CourseRegistration).where(
            col(CourseRegistration.email) == email.strip().lower()
        )
        self.unit.touch()
        return max(self.session.execute(statement).rowcount, 0)  # type: ignore[attr-defined]
