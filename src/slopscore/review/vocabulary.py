"""The policy's vocabulary: an item's statuses, the moderators' actions, outcomes, roles,
and the delivery states of a message to a member.

Statuses and actions follow the platform policy: a moderator dismisses an item
("no concern"), notifies the member privately asking for replacement media or a
clarification, records the resolution, or escalates a repeat violation; the member's
answer brings the item back ("reply received"), and any decision can be reopened with a
reason. There is no remove, hide or delete action, and no status that means one.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Action", "DeliveryState", "Outcome", "Role", "Status"]


class Status(str, Enum):
    """Where an item stands. ``pending`` items form the moderators' queue."""

    PENDING = "pending"
    DISMISSED = "dismissed"  # no concern
    NOTIFIED = "notified"  # member asked privately for replacement media or clarification
    REPLY_RECEIVED = "reply_received"  # the member answered; a moderator reads it beside the original
    RESOLVED = "resolved"  # member replaced the media or clarified
    ESCALATED = "escalated"  # repeat violation, handed to the platform's further process


class Outcome(str, Enum):
    """What a decision says about the score: did a reviewer confirm a policy concern?"""

    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    #: The earlier decision is being looked at again: no outcome until the next decision.
    REOPENED = "reopened"


class Action(str, Enum):
    """The policy's enforcement steps, and nothing else (no remove, hide or delete)."""

    NO_CONCERN = "no_concern"
    NOTIFY = "notify"
    RESOLVED_REPLACED = "resolved_replaced"
    RESOLVED_CLARIFIED = "resolved_clarified"
    ESCALATE = "escalate"
    #: Look at a decided (or notified) item again, with a reason; earlier decisions stay logged.
    REOPEN = "reopen"

    @property
    def status(self) -> Status:
        """The item's status after this action."""
        return _STATUS_AFTER[self]

    @property
    def outcome(self) -> Outcome:
        """Confirmed: the moderator judged the concern real (notified, escalated, or the
        member replaced the work). Dismissed: no concern, or the member's clarification
        cleared it. Reopened: no outcome until the next decision. The latest decision on an
        item is its outcome."""
        return _OUTCOME[self]

    @property
    def label(self) -> str:
        """The button text moderators see."""
        return _LABELS[self]


_STATUS_AFTER = {
    Action.NO_CONCERN: Status.DISMISSED,
    Action.NOTIFY: Status.NOTIFIED,
    Action.RESOLVED_REPLACED: Status.RESOLVED,
    Action.RESOLVED_CLARIFIED: Status.RESOLVED,
    Action.ESCALATE: Status.ESCALATED,
    Action.REOPEN: Status.PENDING,
}
_OUTCOME = {
    Action.NO_CONCERN: Outcome.DISMISSED,
    Action.NOTIFY: Outcome.CONFIRMED,
    Action.RESOLVED_REPLACED: Outcome.CONFIRMED,
    Action.RESOLVED_CLARIFIED: Outcome.DISMISSED,
    Action.ESCALATE: Outcome.CONFIRMED,
    Action.REOPEN: Outcome.REOPENED,
}
_LABELS = {
    Action.NO_CONCERN: "No concern",
    Action.NOTIFY: "Notify member privately",
    Action.RESOLVED_REPLACED: "Resolved: replaced",
    Action.RESOLVED_CLARIFIED: "Resolved: clarified",
    Action.ESCALATE: "Escalate (repeat violation)",
    Action.REOPEN: "Reopen",
}


class Role(str, Enum):
    """What an account may do. Moderators decide; admins also manage templates and accounts."""

    MODERATOR = "moderator"
    ADMIN = "admin"


class DeliveryState(str, Enum):
    """Where a message to a member stands. Only ``delivered`` means the platform took it."""

    QUEUED = "queued"  # waiting for (another) delivery attempt
    DELIVERED = "delivered"  # the platform acknowledged it (2xx)
    FAILED = "failed"  # given up on after its attempts; an admin may queue it again
    WITHDRAWN = "withdrawn"  # the decision was reopened before the message was delivered
