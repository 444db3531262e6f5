"""The central matcher: gRPC servicers (thin), matching, disclosure broker, audit log, storage."""
