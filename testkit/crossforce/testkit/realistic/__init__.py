"""The realistic profile: real name frequencies, households, and errors at stated per-pair rates.

``RealisticSimulator`` (``world``) is the simulator; ``ERROR_KINDS`` (``errors``) the error table with
rates and sources; ``name_book`` (``names``) the names and how common each is. docs/records.md, "How
real records go wrong", explains the model and its sources.
"""

from crossforce.testkit.realistic.errors import ERROR_KINDS, Context, ErrorKind, Tally, apply_errors
from crossforce.testkit.realistic.names import name_book
from crossforce.testkit.realistic.world import RealisticSimulator

__all__ = [
    "ERROR_KINDS",
    "Context",
    "ErrorKind",
    "RealisticSimulator",
    "Tally",
    "apply_errors",
    "name_book",
]
