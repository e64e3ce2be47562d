"""The workflow engine: definitions as data, transitions as pure functions.

Standard library only. Time, actor and the actor's roles come in through the context; the engine
never reads a clock, a database or a request.
"""

from workflows.engine import (
    MODES,
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
    NotYourTurn,
    ReasonRequired,
    TransitionNotAvailable,
    WorkflowError,
)
from workflows.loader import Registry, builtin, load, load_builtin, load_folder
from workflows.render import to_mermaid

__all__ = [
    "MODES",
    "Context",
    "Definition",
    "DefinitionError",
    "Fired",
    "Guard",
    "GuardRefused",
    "NotYourTurn",
    "ReasonRequired",
    "Registry",
    "Transition",
    "TransitionNotAvailable",
    "WorkflowError",
    "builtin",
    "fire",
    "load",
    "load_builtin",
    "load_folder",
    "to_mermaid",
]
