"""The index format (docs/spec.md): the blocked Bloom filter a force publishes (``bloom``) and the
matcher's multi-force snapshot that checks one candidate against every force in one pass (``snapshot``).
"""
