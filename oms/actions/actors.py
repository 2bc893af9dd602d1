"""Who performs an action: an operator, an integrator's token, or the system."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """The author of a transition, recorded in every log row and event.

    Attributes:
        kind: ``"user"`` (operator in the browser or admin), ``"api"`` (integrator token)
            or ``"system"`` (tasks and event handlers).
        name: human-readable label stored in the log, e.g. ``"alice"`` or ``"system"``.
        user_id: the Django user id for ``user``/``api`` actors, else ``None``.
        staff: the ``user`` is a staff user (may also run the actions declared for staff).
    """

    kind: str
    name: str
    user_id: int | None = None
    staff: bool = False

    @property
    def role(self) -> str:
        """What the action declarations' ``who`` is checked against: ``"staff"`` for a
        staff user in the browser or admin, else ``kind``."""
        return "staff" if self.kind == "user" and self.staff else self.kind

    def __str__(self) -> str:
        return self.name if self.kind == "system" else f"{self.kind}:{self.name}"


def system_actor(name: str = "system") -> Actor:
    """Return the actor used by tasks and automatic transitions."""
    return Actor(kind="system", name=name)


def user_actor(user, *, kind: str = "user") -> Actor:
    """Return the actor for a Django ``user`` (``kind`` ``"user"`` or ``"api"``)."""
    return Actor(kind=kind, name=user.get_username(), user_id=user.pk,
                 staff=kind == "user" and user.is_staff)


def user_role(user) -> str:
    """The role (``"user"`` or ``"staff"``) a browser ``user``'s actions are checked as."""
    return "staff" if user.is_staff else "user"
