"""The products Audit Trail integrates, with the services and methods each one logs.

One catalogue feeds the Events page (product and method choices), the demo data (`seed_demo`)
and ListProducts. Names follow Scaleway's wire values: hyphenated product names, fully qualified
service names and CamelCase method names (reference/scaleway-api.md §5.2 for the ones seen in
real recordings; the others follow the same conventions and the integration list in §9).

API:
- `PRODUCTS`: every `Product`, alphabetical by title (as ListProducts returns them).
- `product(name)`: the `Product` named `name`, or None.
- `methods(product_name=None)`: sorted method names of one product, or of all of them.
- `Product.resource_type_of(method)`: the resource type an event of that method is about.
- `RESOURCE_TYPES`: Audit Trail's `ResourceType` enum (reference §4), minus "unknown_type".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache


class LocalityKind(StrEnum):
    """Where a product's events are filed.

    GLOBAL events carry `locality="global"` and count as fr-par. REGIONAL ones carry a region
    (`nl-ams`), ZONAL ones a zone (`fr-par-2`), which belongs to its region.
    """

    GLOBAL = "global"
    REGIONAL = "regional"
    ZONAL = "zonal"


@dataclass(frozen=True)
class Service:
    name: str  # e.g. "scaleway.secret_manager.v1beta1.Api"
    methods: tuple[str, ...]


@dataclass(frozen=True)
class Product:
    title: str  # "Secret Manager"
    name: str  # "secret-manager": the event's product_name
    services: tuple[Service, ...]
    locality_kind: LocalityKind
    # Regions where the product exists (a GLOBAL product is filed under fr-par only).
    regions: tuple[str, ...] = ("fr-par", "nl-ams", "pl-waw")
    # (fragment of a method name, resource type), most specific first: "SecretVersion" before
    # "Secret". The first fragment found in a method name gives its resource type.
    resource_types: tuple[tuple[str, str], ...] = field(default=())

    @property
    def is_global(self) -> bool:
        return self.locality_kind is LocalityKind.GLOBAL

    @property
    def methods(self) -> tuple[str, ...]:
        """Every method of every service, sorted, without duplicates (services share names)."""
        return tuple(sorted({m for service in self.services for m in service.methods}))

    def service_of(self, method: str) -> Service | None:
        """The newest service that logs `method` (services are listed oldest first)."""
        for service in reversed(self.services):
            if method in service.methods:
                return service
        return None

    def resource_type_of(self, method: str) -> str | None:
        for fragment, resource_type in self.resource_types:
            if fragment in method:
                return resource_type
        return None


def _api(name: str, *methods: str) -> Service:
    return Service(name, tuple(sorted(methods)))


PRODUCTS: list[Product] = [
    Product(
        "Account",
        "account",
        (
            _api("scaleway.account.v2.GDPRApi", "CreateGDPRRequest", "DownloadGDPRExport"),
            _api(
                "scaleway.account.v3.OrganizationApi",
                "ChangeSupportPlan",
                "CloseOrganization",
                "SetPicture",
            ),
            _api("scaleway.account.v3.ProjectApi", "CreateProject", "DeleteProject", "UpdateProject"),
            _api(
                "scaleway.account.v3.UserApi",
                "ChangeUserEmail",
                "ChangeUserPassword",
                "ConfirmPhoneValidation",
                "CreateMFAOTP",
                "DeleteMFAOTP",
                "SendPhoneValidation",
                "UpdateUser",
                "UpdateUserPreferences",
                "ValidateMFAOTP",
            ),
        ),
        LocalityKind.GLOBAL,
        regions=("fr-par",),
        resource_types=(
            ("Project", "account_project"),
            ("Organization", "account_organization"),
            ("SupportPlan", "account_organization"),
            ("Picture", "account_organization"),
            ("", "account_user"),
        ),
    ),
    Product(
        "Apple Silicon",
        "apple-silicon",
        (
            _api(
                "scaleway.apple_silicon.v1alpha1.Api",
                "BatchCreateServers",
                "CreateServer",
                "DeleteServer",
                "RebootServer",
                "ReinstallServer",
                "UpdateServer",
            ),
        ),
        LocalityKind.ZONAL,
        resource_types=(("Server", "apple_silicon_server"),),
    ),
    Product(
        "Audit Trail",
        "audit-trail",
        (
            _api(
                "scaleway.audit_trail.v1alpha1.Api",
                "CreateExportJob",
                "DeleteExportJob",
                "DisableAlertRules",
                "EnableAlertRules",
                "CreateCustomAlertRule",
                "DeleteCustomAlertRule",
            ),
        ),
        LocalityKind.REGIONAL,
        resource_types=(
            ("ExportJob", "audit_trail_export_job"),
            ("CustomAlertRule", "audit_trail_custom_alert_rule"),
            ("AlertRule", "audit_trail_alert_rule"),
        ),
    ),
    Product(
        "Edge Services",
        "edge-services",
        (
            _api(
                "scaleway.edge_services.v1beta1.Api",
                "CreateBackendStage",
                "CreateCacheStage",
                "CreateDNSStage",
                "CreatePipeline",
                "CreateTLSStage",
                "CreateWafStage",
                "DeleteCacheStage",
                "DeletePipeline",
                "PurgeCache",
                "UpdatePipeline",
                "UpdateTLSStage",
            ),
        ),
        LocalityKind.GLOBAL,
        regions=("fr-par",),
        resource_types=(
            ("BackendStage", "edge_services_backend_stage"),
            ("CacheStage", "edge_services_cache_stage"),
            ("PurgeCache", "edge_services_cache_stage"),
            ("DNSStage", "edge_services_dns_stage"),
            ("TLSStage", "edge_services_tls_stage"),
            ("WafStage", "edge_services_waf_stage"),
            ("Pipeline", "edge_services_pipeline"),
        ),
    ),
    Product(
        "Elastic Metal",
        "baremetal",
        (
            _api(
                "scaleway.baremetal.v1.Api",
                "AddOptionServer",
                "CreateServer",
                "DeleteOptionServer",
                "DeleteServer",
                "InstallServer",
                "MigrateServerToMonthlyOffer",
                "RebootServer",
                "StartBMCAccess",
                "StartServer",
                "StopBMCAccess",
                "StopServer",
                "UpdateIP",
                "UpdateServer",
                "UpdateSetting",
            ),
        ),
        LocalityKind.ZONAL,
        resource_types=(("Setting", "baremetal_setting"), ("", "baremetal_server")),
    ),
    Product(
        "IAM",
        "iam",
        (
            _api(
                "scaleway.iam.v1alpha1.Api",
                "AddGroupMember",
                "AddGroupMembers",
                "AddSamlCertificate",
                "ClonePolicy",
                "CreateAPIKey",
                "CreateApplication",
                "CreateGroup",
                "CreateJWT",
                "CreatePolicy",
                "CreateSSHKey",
                "CreateUser",
                "CreateUserMFAOTP",
                "DeleteAPIKey",
                "DeleteApplication",
                "DeleteGroup",
                "DeleteJWT",
                "DeletePolicy",
                "DeleteSSHKey",
                "DeleteSaml",
                "DeleteSamlCertificate",
                "DeleteUser",
                "DeleteUserMFAOTP",
                "EnableOrganizationSaml",
                "LockUser",
                "RemoveGroupMember",
                "SetGroupMembers",
                "SetRules",
                "UnlockUser",
                "UpdateAPIKey",
                "UpdateApplication",
                "UpdateGroup",
                "UpdateOrganizationSecuritySettings",
                "UpdatePolicy",
                "UpdateSSHKey",
                "UpdateSaml",
                "UpdateUser",
                "UpdateUserPassword",
                "UpdateUserUsername",
                "ValidateUserMFAOTP",
            ),
            _api(
                "scaleway.iam.v1alpha1.UnauthenticatedApi",
                "CheckLoginMFAOTP",
                "CommitLogin",
                "CreateMagicCodeLogin",
                "CreateOAuth2Login",
                "CreatePasswordLogin",
                "CreateSamlLogin",
                "InitiateMagicCodeLogin",
                "InitiateOAuth2Login",
                "InitiateSamlLogin",
                "RenewJWT",
            ),
        ),
        LocalityKind.GLOBAL,
        regions=("fr-par",),
        resource_types=(
            ("APIKey", "iam_api_key"),
            ("SSHKey", "iam_ssh_key"),
            ("SamlCertificate", "iam_saml_certificate"),
            ("Saml", "iam_saml"),
            ("Application", "iam_application"),
            ("Group", "iam_group"),
            ("Policy", "iam_policy"),
            ("Rules", "iam_rule"),
            ("", "iam_user"),
        ),
    ),
    Product(
        "Instances",
        "instance",
        (
            _api(
                "scaleway.instance.v1.Api",
                "AttachServerVolume",
                "CreateImage",
                "CreatePlacementGroup",
                "CreateSecurityGroup",
                "CreateServer",
                "CreateSnapshot",
                "CreateVolume",
                "DeleteImage",
                "DeletePlacementGroup",
                "DeleteSecurityGroup",
                "DeleteServer",
                "DeleteSnapshot",
                "DeleteVolume",
                "DetachServerVolume",
                "ServerAction",
                "SetSecurityGroupRules",
                "UpdateSecurityGroup",
                "UpdateServer",
                "UpdateVolume",
            ),
        ),
        LocalityKind.ZONAL,
        resource_types=(
            ("ServerVolume", "instance_volume"),
            ("PlacementGroup", "instance_placement_group"),
            ("SecurityGroup", "instance_security_group"),
            ("Snapshot", "instance_snapshot"),
            ("Volume", "instance_volume"),
            ("Image", "instance_image"),
            ("Server", "instance_server"),
        ),
    ),
    Product(
        "IPAM",
        "ipam",
        (_api("scaleway.ipam.v1.Api", "AttachIP", "BookIP", "DetachIP", "MoveIP", "ReleaseIP", "UpdateIP"),),
        LocalityKind.REGIONAL,
        resource_types=(("IP", "ipam_ip"),),
    ),
    Product(
        "Key Manager",
        "key-manager",
        (
            _api(
                "scaleway.key_manager.v1alpha1.Api",
                "CreateKey",
                "DeleteKey",
                "DeleteKeyMaterial",
                "DisableKey",
                "EnableKey",
                "ImportKeyMaterial",
                "ProtectKey",
                "RestoreKey",
                "RotateKey",
                "UnprotectKey",
                "UpdateKey",
            ),
        ),
        LocalityKind.REGIONAL,
        resource_types=(("Key", "key_manager_key"),),
    ),
    Product(
        "Kubernetes",
        "kubernetes",
        (
            _api(
                "scaleway.k8s.v1.Api",
                "AddClusterACLRules",
                "CreateCluster",
                "CreateExternalNode",
                "CreatePool",
                "DeleteACLRule",
                "DeleteCluster",
                "DeleteNode",
                "DeletePool",
                "MigrateClusterToSBSCSI",
                "RebootNode",
                "ReplaceNode",
                "ResetClusterAdminToken",
                "SetClusterACLRules",
                "SetClusterType",
                "UpdateCluster",
                "UpdatePool",
                "UpgradeCluster",
                "UpgradePool",
            ),
        ),
        LocalityKind.REGIONAL,
        resource_types=(
            ("ACL", "kube_acl"),
            ("Pool", "kube_pool"),
            ("Node", "kube_node"),
            ("Cluster", "kube_cluster"),
        ),
    ),
    Product(
        "Load Balancer",
        "load-balancer",
        (
            _api(
                "scaleway.lb.v1.ZonedApi",
                "AddBackendServers",
                "CreateAcl",
                "CreateBackend",
                "CreateCertificate",
                "CreateFrontend",
                "CreateIp",
                "CreateLb",
                "CreateRoute",
                "DeleteAcl",
                "DeleteBackend",
                "DeleteCertificate",
                "DeleteFrontend",
                "DeleteLb",
                "DeleteRoute",
                "MigrateLb",
                "ReleaseIp",
                "RemoveBackendServers",
                "SetAcls",
                "SetBackendServers",
                "UpdateAcl",
                "UpdateBackend",
                "UpdateCertificate",
                "UpdateFrontend",
                "UpdateHealthCheck",
                "UpdateIp",
                "UpdateLb",
                "UpdateRoute",
            ),
        ),
        LocalityKind.ZONAL,
        resource_types=(
            ("Acl", "load_balancer_acl"),
            ("Backend", "load_balancer_backend"),
            ("HealthCheck", "load_balancer_backend"),
            ("Certificate", "load_balancer_certificate"),
            ("Frontend", "load_balancer_frontend"),
            ("Ip", "load_balancer_ip"),
            ("Route", "load_balancer_route"),
            ("Lb", "load_balancer_lb"),
        ),
    ),
    Product(
        "Managed Database for PostgreSQL and MySQL",
        "rdb",
        (
            _api(
                "scaleway.rdb.v1.Api",
                "CloneInstance",
                "CreateDatabaseBackup",
                "CreateEndpoint",
                "CreateInstance",
                "CreateReadReplica",
                "CreateSnapshot",
                "CreateUser",
                "DeleteDatabaseBackup",
                "DeleteEndpoint",
                "DeleteInstance",
                "DeleteReadReplica",
                "DeleteSnapshot",
                "DeleteUser",
                "PrepareInstanceLogs",
                "RestartInstance",
                "SetPrivilege",
                "UpdateInstance",
                "UpdateUser",
                "UpgradeInstance",
            ),
        ),
        LocalityKind.REGIONAL,
        resource_types=(
            ("DatabaseBackup", "rdb_instance_backup"),
            ("Endpoint", "rdb_instance_endpoint"),
            ("ReadReplica", "rdb_instance_read_replica"),
            ("Snapshot", "rdb_instance_snapshot"),
            ("Logs", "rdb_instance_logs"),
            ("", "rdb_instance"),
        ),
    ),
    Product(
        "MongoDB®",
        "mongodb",
        (
            _api(
                "scaleway.mongodb.v1.Api",
                "CreateEndpoint",
                "CreateInstance",
                "CreateSnapshot",
                "CreateUser",
                "DeleteEndpoint",
                "DeleteInstance",
                "DeleteSnapshot",
                "DeleteUser",
                "UpdateInstance",
                "UpdateUser",
                "UpgradeInstance",
            ),
        ),
        LocalityKind.REGIONAL,
        regions=("fr-par",),
        resource_types=(
            ("Endpoint", "mongodb_instance_endpoint"),
            ("Snapshot", "mongodb_instance_snapshot"),
            ("", "mongodb_instance"),
        ),
    ),
    Product(
        "Public Gateways",
        "vpc-gw",
        (
            _api(
                "scaleway.vpc_gw.v2.Api",
                "CreateGateway",
                "CreateGatewayNetwork",
                "CreateIP",
                "CreatePatRule",
                "DeleteGateway",
                "DeleteGatewayNetwork",
                "DeleteIP",
                "DeletePatRule",
                "SetPatRules",
                "UpdateGateway",
                "UpgradeGateway",
            ),
        ),
        LocalityKind.ZONAL,
        resource_types=(
            ("GatewayNetwork", "vpc_gw_gateway_network"),
            ("PatRule", "vpc_gw_pat_rule"),
            ("IP", "vpc_gw_ip"),
            ("Gateway", "vpc_gw_gateway"),
        ),
    ),
    Product(
        "Secret Manager",
        "secret-manager",
        (
            _api(
                "scaleway.secret_manager.v1alpha1.Api",
                "AddSecretOwner",
                "CreateSecret",
                "CreateSecretVersion",
                "DeleteSecret",
                "DestroySecretVersion",
                "DisableSecretVersion",
                "EnableSecretVersion",
                "ProtectSecret",
                "UnprotectSecret",
                "UpdateSecret",
                "UpdateSecretVersion",
            ),
            _api(
                "scaleway.secret_manager.v1beta1.Api",
                "AddSecretOwner",
                "CreateSecret",
                "CreateSecretVersion",
                "DeleteSecret",
                "DeleteSecretVersion",
                "DisableSecretVersion",
                "EnableSecretVersion",
                "ProtectSecret",
                "RestoreSecret",
                "RestoreSecretVersion",
                "UnprotectSecret",
                "UpdateSecret",
                "UpdateSecretVersion",
            ),
        ),
        LocalityKind.REGIONAL,
        resource_types=(("SecretVersion", "secret_manager_version"), ("Secret", "secret_manager_secret")),
    ),
    Product(
        "Serverless Containers",
        "serverless-containers",
        (
            _api(
                "scaleway.containers.v1beta1.Api",
                "CreateContainer",
                "CreateDomain",
                "CreateNamespace",
                "CreateTrigger",
                "DeleteContainer",
                "DeleteDomain",
                "DeleteNamespace",
                "DeleteTrigger",
                "DeployContainer",
                "UpdateContainer",
                "UpdateNamespace",
                "UpdateTrigger",
            ),
        ),
        LocalityKind.REGIONAL,
        resource_types=(
            ("Namespace", "serverless_containers_namespace"),
            ("Domain", "serverless_containers_domain"),
            ("Trigger", "serverless_containers_trigger"),
            ("Container", "serverless_containers_container"),
        ),
    ),
    Product(
        "VPC",
        "vpc",
        (
            _api(
                "scaleway.vpc.v2.Api",
                "AddSubnets",
                "CreatePrivateNetwork",
                "CreateRoute",
                "CreateVPC",
                "DeletePrivateNetwork",
                "DeleteRoute",
                "DeleteSubnets",
                "DeleteVPC",
                "EnableRouting",
                "SetAcl",
                "UpdatePrivateNetwork",
                "UpdateRoute",
                "UpdateVPC",
            ),
        ),
        LocalityKind.REGIONAL,
        resource_types=(
            ("PrivateNetwork", "vpc_private_network"),
            ("Subnets", "vpc_subnet"),
            ("Route", "vpc_route"),
            ("Acl", "vpc_acl"),
            ("", "vpc_vpc"),
        ),
    ),
]

_BY_NAME: dict[str, Product] = {p.name: p for p in PRODUCTS}


def product(name: str) -> Product | None:
    return _BY_NAME.get(name)


@cache
def methods(product_name: str | None = None) -> tuple[str, ...]:
    """Sorted method names of one product, or of every product when `product_name` is None."""
    if product_name is not None:
        found = product(product_name)
        return found.methods if found else ()
    return tuple(sorted({m for p in PRODUCTS for m in p.methods}))


# Audit Trail's ResourceType enum (scaleway==2.12.0, reference §4), without "unknown_type".
RESOURCE_TYPES: tuple[str, ...] = (
    "secm_secret", "secm_secret_version", "kube_cluster", "kube_pool", "kube_node", "kube_acl",
    "keym_key", "iam_user", "iam_application", "iam_group", "iam_policy", "iam_api_key",
    "iam_ssh_key", "iam_rule", "iam_saml", "iam_saml_certificate", "iam_scim", "iam_scim_token",
    "secret_manager_secret", "secret_manager_version", "key_manager_key", "account_user",
    "account_organization", "account_project", "account_contract_signature", "instance_server",
    "instance_placement_group", "instance_security_group", "instance_volume", "instance_snapshot",
    "instance_image", "instance_template", "instance_private_network_interface",
    "apple_silicon_server", "baremetal_server", "baremetal_setting", "ipam_ip", "sbs_volume",
    "sbs_snapshot", "load_balancer_lb", "load_balancer_ip", "load_balancer_frontend",
    "load_balancer_backend", "load_balancer_route", "load_balancer_acl",
    "load_balancer_certificate", "sfs_filesystem", "vpc_private_network", "vpc_vpc", "vpc_subnet",
    "vpc_route", "vpc_acl", "vpc_connector", "vpc_ingress_rule", "edge_services_plan",
    "edge_services_pipeline", "edge_services_vpc_endpoint", "edge_services_dns_stage",
    "edge_services_tls_stage", "edge_services_cache_stage", "edge_services_route_stage",
    "edge_services_route_rules", "edge_services_waf_stage", "edge_services_backend_stage",
    "s2s_vpn_gateway", "s2s_customer_gateway", "s2s_routing_policy", "s2s_connection",
    "vpc_gw_gateway", "vpc_gw_gateway_network", "vpc_gw_dhcp", "vpc_gw_dhcp_entry",
    "vpc_gw_pat_rule", "vpc_gw_ip", "audit_trail_export_job", "rdb_instance",
    "rdb_instance_backup", "rdb_instance_endpoint", "rdb_instance_logs",
    "rdb_instance_read_replica", "rdb_instance_snapshot", "mongodb_instance",
    "mongodb_instance_snapshot", "mongodb_instance_endpoint", "mongodb_instance_maintenance",
    "apple_silicon_runner", "audit_trail_alert_rule", "audit_trail_custom_alert_rule",
    "dtwh_deployment", "dtwh_deployment_endpoint", "dtwh_deployment_database",
    "dtwh_deployment_user", "ssdb_database", "ssdb_database_backup", "observability_datasource",
    "observability_token", "observability_exporter", "ili_partner", "ili_connection", "ili_link",
    "ili_routing_policy", "autoscaling_group", "gapi_dedicated_deployment", "gapi_dedicated_model",
    "serverless_containers_namespace", "serverless_containers_container",
    "serverless_containers_domain", "serverless_containers_trigger",
    "serverless_functions_namespace", "serverless_functions_function",
    "serverless_functions_domain", "serverless_functions_cron", "serverless_functions_trigger",
)  # fmt: skip
