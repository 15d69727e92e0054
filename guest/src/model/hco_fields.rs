//! The JSON field names of the HyperConverged spec, as data.
//!
//! The HCO CRD has a structural schema, so the API server prunes any spec
//! field it does not list. These lists let the guest warn about such a
//! field (usually a typo) instead of silently ignoring it.
//!
//! Source: upstream HCO (kubevirt/hyperconverged-cluster-operator)
//! `api/v1beta1/hyperconverged_types.go` and `api/v1/hyperconverged_types.go`
//! on `main`, the 1.20 development line this project reproduces by default
//! (`HcoVersion::CURRENT`). Fields that older releases had and `main`
//! dropped are kept, so that an object written for an older release raises
//! no warning. Each list is sorted, so that the closest-name search is
//! stable.

/// Fields of `spec` in `hco.kubevirt.io/v1beta1`.
///
/// `enableMultiArchBootImageImport` is the HCO 1.19+ field this project's
/// model reads next to the feature gate of the same name.
pub const V1BETA1_SPEC: &[&str] = &[
    "CommonInstancetypesDeployment",
    "applicationAwareConfig",
    "certConfig",
    "commonBootImageNamespace",
    "commonTemplatesNamespace",
    "dataImportCronTemplates",
    "defaultCPUModel",
    "defaultRuntimeClass",
    "deployVmConsoleProxy",
    "enableApplicationAwareQuota",
    "enableCommonBootImageImport",
    "enableMultiArchBootImageImport",
    "evictionStrategy",
    "featureGates",
    "filesystemOverhead",
    "higherWorkloadDensity",
    "hypervisors",
    "infra",
    "instancetypeConfig",
    "ksmConfiguration",
    "kubeMacPoolConfiguration",
    "kubeSecondaryDNSNameServerIP",
    "liveMigrationConfig",
    "liveUpdateConfiguration",
    "localStorageClassName",
    "logVerbosityConfig",
    "mediatedDevicesConfiguration",
    "networkBinding",
    "obsoleteCPUs",
    "permittedHostDevices",
    "resourceRequirements",
    "roleAggregationStrategy",
    "scratchSpaceStorageClass",
    "storageImport",
    "tektonPipelinesNamespace",
    "tektonTasksNamespace",
    "tlsSecurityProfile",
    "tuningPolicy",
    "uninstallStrategy",
    "vddkInitImage",
    "virtualMachineOptions",
    "vmStateStorageClass",
    "workloadUpdateStrategy",
    "workloads",
];

/// Keys of the `spec.featureGates` map in `hco.kubevirt.io/v1beta1`,
/// including the deprecated gates that upstream still accepts and ignores,
/// and `sriovLiveMigration`, which older releases defaulted.
pub const V1BETA1_FEATURE_GATES: &[&str] = &[
    "alignCPUs",
    "autoResourceLimits",
    "containerPathVolumes",
    "decentralizedLiveMigration",
    "declarativeHotplugVolumes",
    "deployKubeSecondaryDNS",
    "deployKubevirtIpamController",
    "deployTektonTaskResources",
    "deployVmConsoleProxy",
    "disableMDevConfiguration",
    "downwardMetrics",
    "enableApplicationAwareQuota",
    "enableCommonBootImageImport",
    "enableManagedTenantQuota",
    "enableMultiArchBootImageImport",
    "incrementalBackup",
    "nonRoot",
    "objectGraph",
    "persistentReservation",
    "primaryUserDefinedNetworkBinding",
    "sriovLiveMigration",
    "videoConfig",
    "withHostPassthroughCPU",
];

/// Fields of `spec` in `hco.kubevirt.io/v1` (HCO 1.18+). The boot-source
/// fields live under `workloadSources` in this version, so
/// `dataImportCronTemplates` at the top level is dropped.
pub const V1_SPEC: &[&str] = &[
    "CommonInstancetypesDeployment",
    "applicationAwareConfig",
    "certConfig",
    "defaultCPUModel",
    "defaultRuntimeClass",
    "deployVmConsoleProxy",
    "enableApplicationAwareQuota",
    "evictionStrategy",
    "featureGates",
    "filesystemOverhead",
    "higherWorkloadDensity",
    "hypervisors",
    "infra",
    "instancetypeConfig",
    "ksmConfiguration",
    "kubeMacPoolConfiguration",
    "kubeSecondaryDNSNameServerIP",
    "liveMigrationConfig",
    "liveUpdateConfiguration",
    "logVerbosityConfig",
    "mediatedDevicesConfiguration",
    "networkBinding",
    "obsoleteCPUs",
    "permittedHostDevices",
    "resourceRequirements",
    "roleAggregationStrategy",
    "scratchSpaceStorageClass",
    "storageImport",
    "tlsSecurityProfile",
    "tuningPolicy",
    "uninstallStrategy",
    "virtualMachineOptions",
    "vmStateStorageClass",
    "workloadSources",
    "workloadUpdateStrategy",
    "workloads",
];

/// Fields of `spec.workloadSources` in `hco.kubevirt.io/v1`.
pub const V1_WORKLOAD_SOURCES: &[&str] = &[
    "commonBootImageNamespace",
    "commonTemplatesNamespace",
    "dataImportCronTemplates",
    "enableCommonBootImageImport",
    "enableMultiArchBootImageImport",
];
