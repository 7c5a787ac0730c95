"""Device insights and OS update checks: what claimed devices report back to the Azure Sphere service.

**Insights** are the service's summary of events devices upload — crashes, unexpected restarts, connectivity
problems — one row per device and kind of event over a time window, with a count (``DeviceInsight``,
``Catalogs_ListDeviceInsights``). Simulated devices do not report on their own, so a test or scenario records them
with :meth:`DeviceReports.record_device_insight`; the list starts empty, as a new catalog's does.

**OS update checks** fill the device's OS fields. A device that asks the service for updates tells it which OS it
runs; the service answers with the newest OS of the device group's feed (``Retail`` or ``RetailEval``, versions in
``sphere.os_feed_versions``). The legacy reference describes the four fields it keeps:
``LastInstalledOSVersion`` (what the device ran when it asked), ``LastAvailableOSVersion`` (what was available then),
``LastUpdateRequestUTC`` (when it last asked) and ``LastOSUpdateUTC`` (when it last asked *and* a newer OS was
available). A device that never asked has none of them, and both APIs then leave the fields out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.sphere.errors import SphereError, bad_request
from simulator.sphere.records import DeviceInsight, DeviceRecord, SphereCore  # DeviceInsight: exported here as before

__all__ = ["DeviceInsight", "DeviceReports"]

MAX_TEXT = 256


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise bad_request(f"{name} is a string of 1 to {MAX_TEXT} characters.", target=name)
    return value


class DeviceReports:
    """Insights and update checks: the part of :class:`~simulator.sphere.model.SphereService` that records them."""

    def record_device_insight(
        self: SphereCore,
        device_id: str,
        *,
        description: str,
        event_category: str,
        event_class: str,
        event_type: str,
        event_count: int = 1,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> DeviceInsight:
        """Record events of a claimed device (model-only: simulated devices and tests call it)."""
        record = self._claimed(device_id)
        now = self.clock.now()
        start, end = start or now, end or now
        if not isinstance(event_count, int) or isinstance(event_count, bool) or not 1 <= event_count < 2**31:
            raise bad_request("event_count is a positive 32-bit integer.", target="eventCount")
        if end < start:
            raise bad_request("An insight cannot end before it starts.", target="endTimestampUtc")
        insight = DeviceInsight(
            record.tenant_id,
            record.id,
            _text(description, "description"),
            start,
            end,
            _text(event_category, "eventCategory"),
            _text(event_class, "eventClass"),
            _text(event_type, "eventType"),
            event_count,
        )
        self.insights[f"{len(self.insights):08d}"] = insight
        return insight

    def device_insights(self: SphereCore, tenant_id: str) -> list[DeviceInsight]:
        """Every insight of the catalog's devices, oldest first."""
        tenant = self.get_tenant(tenant_id)
        return [i for i in self.insights.values() if i.tenant_id == tenant.id]

    def record_update_check(self: SphereCore, device_id: str, installed_os: str) -> DeviceRecord:
        """A claimed device asks for updates while running ``installed_os``: fill its four OS fields."""
        record = self._claimed(device_id)
        installed = _text(installed_os, "installedOsVersion")
        feed = "Retail"
        if record.device_group_id is not None:
            feed = self.get_tenant(record.tenant_id).device_group_by_id(record.device_group_id).os_feed_type
        available = self.settings.sphere.os_feed_versions.get(feed)
        now = self.clock.now()
        record.last_installed_os = installed
        record.last_available_os = available
        record.last_update_request = now
        if available is not None and available != installed:
            record.last_os_update = now
        return record

    def _claimed(self: SphereCore, device_id: str) -> DeviceRecord:
        record = self.get_device(device_id)
        if record.tenant_id is None:
            raise SphereError(409, "DeviceNotClaimed", f"The device '{record.id}' is not claimed into any tenant.")
        return record
