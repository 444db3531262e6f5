"""Operations service messages for the operator's epoch acts (activate, retire) and the epoch status."""

from __future__ import annotations

from crossforce.domain.epochs import EpochState
from crossforce.v2 import crossforce_pb2 as pb


def activate_request(epoch: int) -> pb.ActivateEpochRequest:
    return pb.ActivateEpochRequest(epoch=epoch)


def retire_request(epoch: int, *, force_override: bool) -> pb.RetireEpochRequest:
    return pb.RetireEpochRequest(epoch=epoch, force_override=force_override)


def status_request() -> pb.EpochStatusRequest:
    return pb.EpochStatusRequest()


def epoch_state_to_pb(state: EpochState) -> pb.EpochStatusResponse:
    return pb.EpochStatusResponse(
        current_epoch=state.current_epoch,
        retired_through=state.retired_through,
        behind=list(state.behind),
        log_index=state.log_index,
    )


def epoch_state_from_pb(msg: pb.EpochStatusResponse) -> EpochState:
    return EpochState(
        current_epoch=msg.current_epoch,
        retired_through=msg.retired_through,
        behind=tuple(msg.behind),
        log_index=msg.log_index,
    )
