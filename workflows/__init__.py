"""The workflow engine: definitions as data, transitions as pure functions.

Standard library only. Time, actor and the actor's roles come in through the context; the engine
never reads a clock, a database or a request.
"""

from workflows.engine import (
    Context,
    Definition,
    Fired,
    Guard,
    Transition,
    fire,
)
from workflows.errors import (
    DefinitionError,
    GuardRefused,
    ReasonRequired,
    TransitionNotAvailable,
    WorkflowError,
)
from workflows.loader import load, load_builtin

__all__ = [
    "Context",
    "Definition",
    "DefinitionError",
    "Fired",
    "Guard",
    "GuardRefused",
    "ReasonRequired",
    "Transition",
    "TransitionNotAvailable",
    "WorkflowError",
    "fire",
    "load",
    "load_builtin",
]
