"""Protobuf <-> domain conversion, written once for the servicers and the SDK.

Why: the matcher and the SDK used to convert protobuf each in their own way, with their own names.
Every function here turns a ``crossforce.v2`` message into a ``crossforce.domain`` value or back, one
module per API area (``common``, ``registry``, ``index``, ``matching``, ``disclosure``, ``audit``,
``operations``) plus ``errors`` (project errors across gRPC status and trailing metadata).

Invariants:

- This package and ``crossforce.v2`` are the only core code that imports protobuf or gRPC
  (tests/unit/test_architecture.py).
- ``*_to_pb`` never fails on a well-formed domain value; ``*_from_pb`` raises only
  ``crossforce.errors.ValidationError`` (an unknown enum number, a missing part), never ``ValueError``.
- Conversions decide nothing: limits, authorisation and verification stay with the callers.
"""
