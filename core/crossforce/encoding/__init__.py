"""The interoperability spec as code: records, normalisation, match keys and keyed-hash tokens.

``docs/spec.md`` is the contract and ``tests/vectors/encoding.json`` its golden vectors; any change to
what these modules produce is a new ``SPEC_VERSION``.
"""

SPEC_VERSION = 2
