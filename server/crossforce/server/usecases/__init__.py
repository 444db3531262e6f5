"""The matcher's use cases, one job each, no gRPC and no protobuf; ``crossforce.server.matcher.Matcher``
wires them together and the servicers call that facade.

The flow a request takes: ``registry`` (organisations and their keys) -> ``publishing`` (signed index
generations, into ``serving``'s in-memory table) -> ``checking`` (match tokens against every force,
charge quotas, record the check) -> ``broker`` (disclosure requests through the pure state machine) ->
``auditreads`` (heads, proofs, and which log entries a caller may read). ``quotareplay`` restores quota
counters from the log at start-up. Every use case commits a change together with its typed audit event
in one transaction (``AuditLog.transaction``) before it returns; the rules they apply live in
``crossforce.server.policy``.
"""
