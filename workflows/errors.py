"""Why a trigger could not fire, or why a definition could not load."""

from __future__ import annotations


class WorkflowError(Exception):
    """Base of every workflow refusal."""


class DefinitionError(WorkflowError):
    """A definition is malformed: unknown states, unreachable states, dead ends, unknown roles."""


class TransitionNotAvailable(WorkflowError):
    """The trigger does not exist from the current position (e.g. approving an issued document)."""

    def __init__(self, definition: str, position: str, trigger: str) -> None:
        super().__init__(f"'{trigger}' is not possible in state '{position}' ({definition})")
        self.definition = definition
        self.position = position
        self.trigger = trigger


class GuardRefused(WorkflowError):
    """The transition exists, but the actor lacks the role it needs in the unit it concerns."""

    def __init__(self, trigger: str, relation: str, roles: frozenset[str],
                 levels: frozenset[str] = frozenset()) -> None:
        wanted = ", ".join(sorted(roles))
        where = f" at the {' or '.join(sorted(levels))} level" if levels else ""
        # Relations are units ("drafting_unit") or parts people play ("lead", "consulted").
        place = (f"in the {relation}" if relation.endswith("unit")
                 else f"as the {relation.replace('_', ' ')}")
        super().__init__(f"'{trigger}' needs one of the roles [{wanted}] {place}{where}")
        self.trigger = trigger
        self.relation = relation
        self.roles = roles
        self.levels = levels


class NotYourTurn(WorkflowError):
    """A step several people take is not this actor's to take now."""

    def __init__(self, trigger: str, why: str) -> None:
        super().__init__(f"'{trigger}': {why}")
        self.trigger = trigger


class ReasonRequired(WorkflowError):
    """The transition needs a written reason (returning a document, for instance)."""

    def __init__(self, trigger: str) -> None:
        super().__init__(f"'{trigger}' needs a reason")
        self.trigger = trigger
