"""The index format (docs/spec.md): the blocked Bloom filter (``bloom``), format 2's index of one filter per
key type (``partitioned``), and the matcher's multi-force snapshot that checks a candidate's tokens against
every force in one pass (``snapshot``).
"""
