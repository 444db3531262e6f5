"""Spec v2's encoding hot path as it was before the session-25 speed work, frozen for comparison only.

Verbatim copies of the ``crossforce.encoding`` modules that work changed (text, placeholders,
identifiers, normalise, matchkeys) and of ``tokens``, which builds on them; imports between them point
here, the rest (Unicode table, dates, key types, phonetic code, ``Record``) are the live modules. So
``bench.encoding`` can time the old and new paths in one process, and
``tests/unit/test_encoding_equivalence.py`` can check that the new path gives the same tokens, byte for
byte. No production code imports it. Delete it with the next deliberate change to what encoding outputs.
"""
