"""The tamper-evident audit log: Merkle tree (RFC 9162), signed tree heads and typed events.

Everything here is pure and verifiable offline over plain iterables of entries.
"""
