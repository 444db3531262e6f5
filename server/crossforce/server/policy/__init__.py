"""The matcher's rules, pure: the use cases call these and store what they return.

Invariants (tests/unit/test_architecture.py): no I/O, no gRPC, SQLite or protobuf, no clock (``now_ms`` is
always a parameter), and nothing reached through imports does any either. Modules: ``disclosure`` (the
request state machine and who may move it), ``quotas`` (token buckets, daily limits, the anomaly alarm),
``epochs`` (which network-secret epochs are served), ``publish`` (what a published index must satisfy),
``roles`` (who may call what), ``settings`` (every bound and purpose, parsed from TOML text;
``crossforce.server.settings`` reads the file).
"""
