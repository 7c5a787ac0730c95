"""Long-running ARM operations of the Sphere service, and the provisioning state of the resources they change.

Azure Resource Manager answers a write that may take time with ``201``/``202`` and a URL to poll
(``Azure-AsyncOperation`` for a status object, ``Location`` for the result), and each resource carries a
``provisioningState`` that is ``Succeeded`` once the last write on it finished. The fake applies every change at
request time — a rejected request still changes nothing — and records an :class:`ArmOperation` that reports
``InProgress`` until ``sphere.arm_operation_delay_s`` has passed on the world's clock (default 0: finished at
once); while it runs, the resource shows the transitional state (``Accepted`` for a create, ``Updating`` for a
change). A device claim made through ``PUT …/devices/{id}`` is the legacy claim operation underneath, so its ARM
operation follows that claim (``claim_delay_s``; conflicts in ``async`` mode, ``sphere.claim_conflict_mode``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from simulator.sphere.errors import SphereError, not_found
from simulator.sphere.records import (  # the records moved there; exported here as before
    ArmOperation,
    ClaimOperation,
    Provisioning,
    SphereCore,
    Tenant,
)

__all__ = ["ArmOperation", "ArmOperations", "OperationStatus", "Provisioning"]

OperationStatus = Literal["InProgress", "Succeeded", "Failed"]


class ArmOperations:
    """The ARM operation registry: the part of :class:`~simulator.sphere.model.SphereService` behind the
    ``operationStatuses`` and ``operationResults`` URLs."""

    def start_arm_operation(
        self: SphereCore,
        tenant: Tenant,
        action: str,
        resource_id: str,
        *,
        result: dict[str, Any] | None = None,
        claim: ClaimOperation | None = None,
        changing: Any = None,
        transitional: str = "Accepted",
    ) -> ArmOperation:
        """Record an accepted write; ``changing`` (a resource with ``provisioning``) shows ``transitional`` until
        the operation completes. Call it after the change was validated and applied."""
        now = self.clock.now()
        if claim is not None:
            completes_at = claim.completes_at
        else:
            completes_at = now + timedelta(seconds=self.settings.sphere.arm_operation_delay_s)
        operation = ArmOperation(
            id=self._operation_entropy.uuid(),
            subscription_id=tenant.subscription_id,
            tenant_id=tenant.id,
            action=action,
            resource_id=resource_id,
            started_at=now,
            completes_at=completes_at,
            result=result,
            claim_operation_id=None if claim is None else claim.id,
        )
        if changing is not None and completes_at > now:
            changing.provisioning = Provisioning(transitional, completes_at)
        self.arm_operations[operation.id] = operation
        return operation

    def arm_operation(self: SphereCore, subscription_id: str, operation_id: str) -> ArmOperation:
        """The operation with this ID in this subscription (case-insensitive), or 404."""
        operation = self.arm_operations.get(operation_id.lower()) if isinstance(operation_id, str) else None
        if operation is None or operation.subscription_id.lower() != str(subscription_id).lower():
            raise not_found("operation", str(operation_id))
        return operation

    def arm_operation_status(self: SphereCore, operation: ArmOperation) -> tuple[OperationStatus, SphereError | None]:
        """``InProgress`` until the operation completes, then ``Succeeded`` or ``Failed`` with its error."""
        self._settle()
        now = self.clock.now()
        if now < operation.completes_at:
            return "InProgress", None
        failure = operation.failure
        if operation.claim_operation_id is not None:
            claim = self.operations.get(operation.claim_operation_id)
            failure = claim.error if claim is not None else None
        return ("Failed", failure) if failure is not None else ("Succeeded", None)
