"""What an operator sees of a running matcher: one log format, metrics, and the calls behind both.

- ``logs``: the one formatter (JSON lines, logfmt, text) and ``configure`` for ``crossforce serve``.
- ``calls``: ``CallObserver``, the outermost interceptor: one log line and the metrics of every call.
- ``metrics``: the per-server registry and the localhost OpenMetrics listener.
- ``state``: the figures a scrape reads from the matcher (index ages, requests waiting, log size).
- ``reflection``: gRPC server reflection v1 and v1alpha.

docs/operations.md documents every field and metric.
"""
