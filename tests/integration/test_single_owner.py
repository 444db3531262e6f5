"""One matcher per data folder and per port (issue "Honest answers", item 8).

A second ``serve`` on the same data folder used to start and interleave its group commits and tree heads
with the first, breaking both; a second one on the same port bound with SO_REUSEPORT and silently took
part of the traffic. Both are now refused at start-up with a message an operator can act on, and the
first matcher keeps serving.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from crossforce.errors import PreconditionError
from crossforce.server.app import RunningServer, start
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.v2 import crossforce_pb2_grpc as rpc
from crossforce.wire.metadata import DEV_IDENTITY_HEADER

PING_TIMEOUT_S = 10.0


def _dev_server(data_dir: Path, port: int = 0) -> RunningServer:
    return start(data_dir=data_dir, pki_dir=None, host="127.0.0.1", port=port, dev_plaintext=True)


def _ping(port: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        rpc.MatcherStub(channel).Ping(
            pb.PingRequest(),
            timeout=PING_TIMEOUT_S,
            metadata=((DEV_IDENTITY_HEADER, "kent:vetting-officer"),),
        )


def test_second_matcher_on_the_same_data_folder_is_refused(tmp_path: Path) -> None:
    first = _dev_server(tmp_path / "matcher")
    try:
        with pytest.raises(PreconditionError, match="already using the data folder"):
            _dev_server(tmp_path / "matcher")
        _ping(first.port)  # the first one is untouched
    finally:
        first.stop()
    again = _dev_server(tmp_path / "matcher")  # stopping released the folder
    again.stop()


def test_second_matcher_on_the_same_port_is_refused_and_releases_its_folder(tmp_path: Path) -> None:
    first = _dev_server(tmp_path / "a")
    try:
        with pytest.raises(PreconditionError, match="port is in use"):
            _dev_server(tmp_path / "b", port=first.port)
        _ping(first.port)
        other = _dev_server(tmp_path / "b")  # the refused start closed what it had opened
        other.stop()
    finally:
        first.stop()
