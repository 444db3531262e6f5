"""The operator's epoch acts from the client: activate the next epoch, retire the previous, read the state.

Why a module of its own (beside the ``Client`` facade): only the operator acts on epochs, and only the
``crossforce epoch`` command and test deployments need it; it takes any ``Connection`` (the operator's
certificate for the acts; any certificate for the status). The matcher decides and logs every act: this
only carries it, and is never retried (an act sent twice would be refused the second time, not repeated).
"""

from __future__ import annotations

from crossforce.client.connection import Connection
from crossforce.domain.epochs import EpochState
from crossforce.wire import epochs as wire


class EpochOperator:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def status(self) -> EpochState:
        """The current epoch, the retired mark and the forces still only on an older epoch."""
        ops = self._connection.operations
        return wire.epoch_state_from_pb(self._connection.call(ops.EpochStatus, wire.status_request()))

    def activate(self, epoch: int) -> EpochState:
        """Make ``epoch`` (the current one plus one) current; the previous stays served until retired."""
        ops = self._connection.operations
        request = wire.activate_request(epoch)
        return wire.epoch_state_from_pb(self._connection.call(ops.ActivateEpoch, request))

    def retire(self, epoch: int, *, force_override: bool = False) -> EpochState:
        """Retire ``epoch`` (the older live one); PreconditionError naming the forces still only on it
        unless ``force_override``."""
        ops = self._connection.operations
        request = wire.retire_request(epoch, force_override=force_override)
        return wire.epoch_state_from_pb(self._connection.call(ops.RetireEpoch, request))
