"""gRPC metadata keys the API defines, each named once for the server and the SDK."""

from __future__ import annotations

DEV_IDENTITY_HEADER = "x-crossforce-dev-identity"
"""Plaintext development mode only: ``org:role`` of the caller, in place of a client certificate.
A matcher started without ``dev_plaintext`` never reads it."""
