"""What each route does and what it takes and gives, for the routes whose handler does not say so itself.

``docs/http-api.md`` takes a route's description from its handler's docstring; these notes fill in the routes whose
handlers have none, by service and operation name. For the legacy Sphere API and the control API no published
document gives the shapes, so the notes state them (``→`` the answer); IoT Central, ARM and DPS rows also carry
their published contract's operation and schemas. ``tests/test_docs_current.py`` fails when a route is left without
a description, so a new route needs a docstring or a line here.
"""

from __future__ import annotations

#: (service, operation) → what the route does, its body and its answer
NOTES: dict[tuple[str, str], str] = {
    # -- Azure Sphere legacy API v2 (PascalCase bodies) --------------------------------------------------------
    ("sphere-legacy", "list_tenants"): "The tenants the signed-in user has a role in → `[{Id, Name, Roles}]`.",
    ("sphere-legacy", "get_tenant"): "One tenant the user has a role in → `{Id, Name, Roles}`.",
    ("sphere-legacy", "list_certificates"): (
        "Every tenant CA generation, expired and revoked ones included → "
        "`[{Certificate (base64 DER), IsActive, IsRevoked, Thumbprint}]` (`sphere.cert_list_envelope` wraps it in "
        "`{Items, ContinuationToken}`)."
    ),
    ("sphere-legacy", "get_certificate"): (
        "Download the Active tenant CA (`?thumbprint=` picks another usable generation) → a JSON string: base64 "
        "DER. What `azsphere ca-certificate download` saves as `CAcertificate.cer`."
    ),
    ("sphere-legacy", "get_certificate_chain"): (
        "The tenant CA with its issuers up to the root (`?thumbprint=` as above) → a JSON string: base64 DER "
        "PKCS#7 (`CAcertificate.p7b`)."
    ),
    ("sphere-legacy", "get_proof"): (
        "A proof-of-possession certificate whose subject is `CN=<code>`, signed by the Active tenant CA "
        "(`?thumbprint=` picks the generation) → a JSON string: base64 DER (`ValidationCertification.cer`)."
    ),
    ("sphere-legacy", "claim_device"): (
        "Claim a device into the tenant (once, for good) → 202 `Operation` {OperationId, OperationType, State, "
        "TenantId, CreatedDateUTC, StartedDateUTC, CompletedDateUTC, ResourceLocation, DetailsLocation, Error}."
    ),
    ("sphere-legacy", "bulk_claim"): "Claim several devices: the body is a JSON array of device IDs → 202 `Operation`.",
    ("sphere-legacy", "get_operation"): (
        "Poll an operation (a claim, a move, a product creation) → `Operation`: `State` 0 not started, 1 in "
        "progress, 2 succeeded, 3 failed (with `Error`)."
    ),
    ("sphere-legacy", "list_devices"): (
        "The tenant's claimed devices → `{Items: [DeviceV2], ContinuationToken}`; `?maxPageSize=` and the "
        "`Sphere-Continuation` request header page through them. `DeviceV2`: {DeviceId, TenantId, ProductId, "
        "DeviceGroupId, ChipSku, LastAvailableOSVersion, LastInstalledOSVersion, LastOSUpdateUTC, "
        "LastUpdateRequestUTC}."
    ),
    ("sphere-legacy", "list_product_devices"): "The devices of one product → `{Items: [DeviceV2], ContinuationToken}`.",
    ("sphere-legacy", "list_group_devices"): (
        "The devices of one device group → `{Items: [DeviceV2], ContinuationToken}`."
    ),
    ("sphere-legacy", "list_products"): (
        "The tenant's products → `{Items: [{Id, TenantId, Name, Description}], ContinuationToken}`."
    ),
    ("sphere-legacy", "get_product"): "One product → `{Id, TenantId, Name, Description}`.",
    ("sphere-legacy", "create_default_groups"): (
        "Create the product's five default device groups (those that exist are kept) → "
        "`{Items: [DeviceGroupV2], ContinuationToken}`."
    ),
    ("sphere-legacy", "get_device_group_by_name"): "One device group by product and group name → `DeviceGroupV2`.",
    ("sphere-legacy", "list_device_groups"): (
        "Every device group of the tenant → `{Items: [DeviceGroupV2], ContinuationToken}`. `DeviceGroupV2`: {Id, "
        "TenantId, OsFeedType, ProductId, Name, Description, CurrentDeployment, UpdatePolicy, "
        "AllowCrashDumpsCollection}."
    ),
    ("sphere-legacy", "get_device_group"): "One device group by ID → `DeviceGroupV2`.",
    ("sphere-legacy", "get_device"): "One device of the tenant → `DeviceV2`.",
    ("sphere-legacy", "create_capability_image"): (
        "A signed capability image for a device of the tenant: body `{DeviceId, Capabilities}` → "
        "`{SignedDeviceCapabilityImageBytes}` (base64)."
    ),
    # -- Azure Sphere ARM (shapes: the published contract column) ---------------------------------------------------
    ("sphere-arm", "Operations_List"): "Every operation this provider serves, named as in Azure RBAC.",
    ("sphere-arm", "Catalogs_ListBySubscription"): "The subscription's catalogs (a catalog is a Sphere tenant), paged.",
    ("sphere-arm", "Catalogs_ListByResourceGroup"): "The resource group's catalogs, paged.",
    ("sphere-arm", "Catalogs_Get"): "One catalog: the tenant's ID is its `properties.tenantId`.",
    ("sphere-arm", "Catalogs_CreateOrUpdate"): (
        "Create a catalog (a new tenant; the caller becomes its Administrator) or replace its tags."
    ),
    ("sphere-arm", "Catalogs_Update"): "Change a catalog's tags.",
    ("sphere-arm", "Catalogs_Delete"): "Delete a catalog.",
    ("sphere-arm", "Certificates_ListByCatalog"): (
        "The tenant CA generations (resource name: the serial number) with status, thumbprint and dates, paged."
    ),
    ("sphere-arm", "Certificates_Get"): (
        "One tenant CA generation by serial (`.default`: the Active one), the certificate itself in "
        "`properties.certificate`."
    ),
    ("sphere-arm", "Certificates_RetrieveCertChain"): (
        "The generation's chain up to the root → `{certificateChain}`: base64 PKCS#7 (`sphere.arm_chain_encoding`)."
    ),
    ("sphere-arm", "Certificates_RetrieveProofOfPossessionNonce"): (
        "A proof-of-possession certificate for body `{proofOfPossessionNonce}` (the verification code: its CN), "
        "signed by that generation → the certificate and its properties."
    ),
    ("sphere-arm", "Catalogs_CountDevices"): "How many devices the catalog holds → `{value}`.",
    ("sphere-arm", "Images_ListByCatalog"): "The catalog's images, paged.",
    ("sphere-arm", "Images_Get"): "One image.",
    ("sphere-arm", "Images_CreateOrUpdate"): "Upload an image (base64 in `properties.image`).",
    ("sphere-arm", "Images_Delete"): "Delete an image.",
    ("sphere-arm", "Catalogs_UploadImage"): "Upload an image and let the service name it.",
    ("sphere-arm", "Catalogs_ListDeployments"): "Every deployment of the catalog, paged (POST; GET for next pages).",
    ("sphere-arm", "Catalogs_ListDeviceGroups"): (
        "Every device group of the catalog, narrowed by the body's `deviceGroupName`, paged (POST; GET for next pages)."
    ),
    ("sphere-arm", "Catalogs_ListDeviceInsights"): "Device events (insights) of the catalog, paged.",
    ("sphere-arm", "Catalogs_ListDevices"): "Every device of the catalog, paged (POST; GET for next pages).",
    ("sphere-arm", "Products_ListByCatalog"): "The catalog's products, paged.",
    ("sphere-arm", "Products_Get"): "One product.",
    ("sphere-arm", "Products_CreateOrUpdate"): "Create a product or change its description.",
    ("sphere-arm", "Products_Update"): "Change a product's description.",
    ("sphere-arm", "Products_Delete"): "Delete a product (refused while its groups hold devices).",
    ("sphere-arm", "Products_CountDevices"): "How many devices the product holds → `{value}`.",
    ("sphere-arm", "Products_GenerateDefaultDeviceGroups"): (
        "The product's five default device groups (created where missing), as a device-group list."
    ),
    ("sphere-arm", "DeviceGroups_ListByProduct"): "The product's device groups, paged.",
    ("sphere-arm", "DeviceGroups_Get"): "One device group.",
    ("sphere-arm", "DeviceGroups_CreateOrUpdate"): (
        "Create a device group or change its OS feed, update policy and crash-dump setting."
    ),
    ("sphere-arm", "DeviceGroups_Update"): "Change a device group's settings.",
    ("sphere-arm", "DeviceGroups_Delete"): "Delete a device group (refused while it holds devices).",
    ("sphere-arm", "DeviceGroups_ClaimDevices"): (
        "Claim devices into this group: body `{deviceIdentifiers: [...]}` → 202 with `Location` and "
        "`Retry-After`; claims are once and for good (`sphere.claim_conflict_mode`)."
    ),
    ("sphere-arm", "DeviceGroups_CountDevices"): "How many devices the group holds → `{value}`.",
    ("sphere-arm", "Deployments_ListByDeviceGroup"): "The group's deployments, paged.",
    ("sphere-arm", "Deployments_Get"): "One deployment.",
    ("sphere-arm", "Deployments_CreateOrUpdate"): (
        "Deploy images to the group: `.default` (or the body's `deploymentId`) names a fresh deployment."
    ),
    ("sphere-arm", "Deployments_Delete"): "Delete a deployment.",
    ("sphere-arm", "Devices_ListByDeviceGroup"): "The group's devices, paged.",
    ("sphere-arm", "Devices_Get"): "One device of the group.",
    ("sphere-arm", "Devices_CreateOrUpdate"): (
        "Claim a device into this product and group (a device the catalog already holds moves there instead); ."
    ),
    ("sphere-arm", "Devices_Update"): (
        "Move a device: `properties.deviceGroupId` is the ARM ID of a group of the same catalog."
    ),
    ("sphere-arm", "Devices_Delete"): ("Claims are permanent: refused unless `sphere.arm_device_delete` is `unclaim`."),
    ("sphere-arm", "Devices_GenerateCapabilityImage"): (
        "A signed capability image for the device (body `{capabilities: [...]}`)."
    ),
    ("sphere-arm", "OperationStatuses_Get"): (
        "The status of a long-running operation (`Azure-AsyncOperation`): `InProgress`, then `Succeeded` or "
        "`Failed` with its error."
    ),
    ("sphere-arm", "OperationResults_Get"): (
        "The result of a long-running operation (`Location`): 202 while it runs, then its result (200), nothing "
        "(204) or its error."
    ),
    # -- IoT Central data plane (shapes: the published contract column) -------------------------------------------
    ("central", "list_groups"): "The app's enrollment groups.",
    ("central", "get_group"): "One enrollment group.",
    ("central", "create_group"): (
        "Create an enrollment group (IoT devices or IoT Edge devices; X.509 or symmetric-key attestation)."
    ),
    ("central", "update_group"): (
        "Change a group's display name or enabled flag (JSON merge patch; `If-Match` honoured)."
    ),
    ("central", "delete_group"): "Delete an enrollment group; devices already enrolled stay in the app.",
    ("central", "get_certificate"): (
        "Read a group's primary or secondary certificate entry (`verified`, `info.sha1Thumbprint`, `etag`)."
    ),
    ("central", "set_certificate"): (
        "Upload a certificate (the tenant CA, base64 DER or PEM) as the primary or secondary entry; unverified "
        "unless uploaded with `verified: true`."
    ),
    ("central", "remove_certificate"): "Remove a certificate entry (`If-Match` honoured).",
    ("central", "generate_code"): (
        "Generate the verification code the proof-of-possession certificate's subject CN must carry "
        "(a new one each time; the previous one stops working)."
    ),
    ("central", "verify"): (
        "Verify the entry with a proof-of-possession certificate: its CN must be the current code, its signature "
        "verify under the uploaded CA's key and its dates hold; 204 on success, 400 "
        "`InvalidProofOfPossession` otherwise (nothing changes)."
    ),
    ("central", "list_devices"): "The app's devices (auto-enrolled ones included).",
    ("central", "get_device"): "One device (`provisioned`, `enabled`, `template` …).",
    ("central", "create_device"): "Create a device ahead of its first connection.",
    ("central", "update_device"): "Change a device's display name, template, enabled flag … (JSON merge patch).",
    ("central", "delete_device"): "Delete a device.",
    ("central", "get_device_attestation"): "A device's attestation (X.509 for enrolled devices, symmetric keys …).",
    ("central", "create_device_attestation"): "Set a device's attestation.",
    ("central", "update_device_attestation"): "Change a device's attestation (JSON merge patch).",
    ("central", "remove_device_attestation"): "Remove a device's individual attestation.",
    ("central", "list_device_components"): "The components of a device's template.",
    ("central", "get_device_credentials"): "The credentials a device connects with (ID scope, symmetric keys).",
    ("central", "get_device_properties"): "A device's properties (reported and desired).",
    ("central", "replace_device_properties"): "Replace a device's writable properties (202: the device is told).",
    ("central", "update_device_properties"): "Patch a device's writable properties (202: the device is told).",
    ("central", "get_device_telemetry"): "The last value of one telemetry field of a device (`{timestamp, value}`).",
    ("central", "list_device_templates"): "The app's device templates.",
    ("central", "get_device_template"): "One device template (by DTMI).",
    ("central", "create_device_template"): "Publish a device template.",
    ("central", "update_device_template"): "Change a device template (JSON merge patch).",
    ("central", "remove_device_template"): "Remove a device template (409 while a device uses it).",
    ("central", "list_organizations"): "The app's organizations.",
    ("central", "get_organization"): "One organization.",
    ("central", "create_organization"): "Create an organization (optionally under a parent).",
    ("central", "update_organization"): "Change an organization (JSON merge patch).",
    ("central", "remove_organization"): "Remove an organization.",
    ("central", "list_api_tokens"): "The app's API tokens (without their secrets).",
    ("central", "get_api_token"): "One API token (without its secret).",
    ("central", "create_api_token"): "Create an API token with roles; the answer carries the token string, once.",
    ("central", "remove_api_token"): "Remove an API token: its string stops working at once.",
    ("central", "list_roles"): "The app's roles (App Administrator, App Builder, App Operator).",
    ("central", "get_role"): "One role.",
    ("central", "list_device_groups"): "The app's device groups.",
    ("central", "get_device_group"): "One device group.",
    ("central", "create_device_group"): "Create a device group from a filter.",
    ("central", "update_device_group"): "Change a device group (JSON merge patch).",
    ("central", "remove_device_group"): "Remove a device group.",
    ("central", "list_device_group_devices"): "The devices a device group's filter selects.",
    # -- the simulator control API (request → answer) ------------------------------------------------------------
    ("control", "health"): 'Is the world up → `{status: "ok", version, now, seed, tenants, apps}`.',
    ("control", "reset"): (
        "Forget every tenant, app, device, registration and fault rule (the clock keeps its time); a served world "
        "re-creates its default tenant and app → `{reset: true, now, offset_s, endpoints?}`."
    ),
    ("control", "clock"): (
        'GET the world\'s clock → `{now, offset_s}`; POST `{"advance": "90d"}` (units s, m, h, d, w) or '
        '`{"set": "<ISO 8601>"}` moves it forward (never back) → `{now, offset_s}`.'
    ),
    ("control", "tenants"): (
        "Body `{name?, tenant_id?, email?, subscription_id?, resource_group?, catalog?}` → 201 a tenant with an "
        "Administrator user and its tokens: `{tenant_id, name, catalog, subscription_id, resource_group, user, "
        "token, arm_token}`."
    ),
    ("control", "tokens"): (
        'Body `{email?, audience?: "sphere" | "arm"}` → 201 `{user, audience, token}`: a fresh bearer token '
        "(after the clock travelled past the old one's expiry)."
    ),
    ("control", "apps"): (
        "Body `{subdomain?, name?, auto_approve?}` → 201 an IoT Central app: `{id, subdomain, name, id_scope, "
        "hub_host, auto_approve, api_token}`."
    ),
    ("control", "devices"): (
        "Body `{count?: 1, claim?: true, tenant_id?}` → 201 `{devices: [{id, key_pem, certificate_chain_pem, "
        "tenant_id}]}`: simulated Sphere devices with their keys (claimed ones with a certificate chain)."
    ),
    ("control", "device"): (
        "A claimed device's fresh daily certificate chain → `{id, tenant_id, certificate_chain_pem}`; 409 "
        "`DeviceNotClaimed` before its claim."
    ),
    ("control", "faults"): (
        "GET → `{rules: [rule with calls and fired]}`; POST a rule (`docs/faults.md`) → 201 the rule with its "
        "`id`; DELETE → `{removed}` (every rule)."
    ),
    ("control", "fault"): "Remove one fault rule by `id` → `{removed: 1}`; 404 `FaultRuleNotFound`.",
    ("control", "requests"): (
        "The request journal, oldest first → `{requests: [{id, service, operation, method, path, query, status, "
        "ms, at, host}], counts, capacity}`; filters `?service= operation= method= status= path= since= limit=` "
        "(`operation` and `path` take globs, `since` an entry id, `limit` keeps the newest); DELETE clears it "
        "(`?service=` one service) → `{cleared}`."
    ),
    ("control", "state"): (
        "What the world holds, without keys or tokens → `{clock, seed, settings, tenants: [{id, name, catalog, "
        "ca_generations, devices, users}], apps: [{subdomain, id_scope, enrollment_groups, devices}], dps: "
        "{registrations, operations_in_flight}, fault_rules}`; `settings` lists those that differ from the defaults."
    ),
}


def note(service: str, operation: str) -> str:
    """The note for one route (empty when there is none)."""
    return NOTES.get((service, operation), "")
