"""crossforce: what the force client and the matcher share.

The published spec (docs/spec.md) lives here as code: normalisation, match keys, tokens and the index
format, plus signed envelopes, the audit log's pure core, errors and limits. Nothing in this package
(outside the generated ``crossforce.v1``) imports grpc or sqlite3.
"""

SPEC_VERSION = 1
