//! The Kubernetes resources the controller reads and writes, and the verbs it
//! uses on each: the single list the deploy manifests' RBAC is checked against.

use kube::discovery::ApiResource;

/// Resource kind the controller can read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub kind: &'static str,
    /// Lower-case plural used in URLs and RBAC rules.
    pub plural: &'static str,
    pub namespaced: bool,
}

/// Every kind a plan may touch, with its plural. The version is taken from
/// the object's `apiVersion`, so one entry serves every served version.
pub const KINDS: &[Kind] = &[
    Kind {
        group: "hco.kubevirt.io",
        kind: "HyperConverged",
        plural: "hyperconvergeds",
        namespaced: true,
    },
    Kind {
        group: "ssp.kubevirt.io",
        kind: "SSP",
        plural: "ssps",
        namespaced: true,
    },
    Kind {
        group: "cdi.kubevirt.io",
        kind: "DataImportCron",
        plural: "dataimportcrons",
        namespaced: true,
    },
    Kind {
        group: "cdi.kubevirt.io",
        kind: "DataSource",
        plural: "datasources",
        namespaced: true,
    },
    Kind {
        group: "cdi.kubevirt.io",
        kind: "DataVolume",
        plural: "datavolumes",
        namespaced: true,
    },
    Kind {
        group: "",
        kind: "PersistentVolumeClaim",
        plural: "persistentvolumeclaims",
        namespaced: true,
    },
    Kind {
        group: "storage.k8s.io",
        kind: "StorageClass",
        plural: "storageclasses",
        namespaced: false,
    },
    Kind {
        group: "snapshot.storage.k8s.io",
        kind: "VolumeSnapshot",
        plural: "volumesnapshots",
        namespaced: true,
    },
];

/// Returns the kind entry for an `apiVersion` and `kind`, if the controller
/// knows it.
pub fn kind_of(api_version: &str, kind: &str) -> Option<&'static Kind> {
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    KINDS.iter().find(|k| k.group == group && k.kind == kind)
}

/// Builds the [`ApiResource`] for an `apiVersion` and a known kind.
pub fn api_resource(api_version: &str, kind: &Kind) -> ApiResource {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version: api_version.to_string(),
        kind: kind.kind.to_string(),
        plural: kind.plural.to_string(),
    }
}

/// One RBAC permission the controller code uses: API group, resource (with
/// `/status` for the status subresource) and verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub group: &'static str,
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
}

/// Verbs the watchers use: an initial list, then a watch.
const READ: &[&str] = &["list", "watch"];
/// Verbs for objects the plan creates, applies, patches and deletes; `get`
/// re-reads an object after a rejected delete.
const READ_WRITE: &[&str] = &["get", "list", "watch", "create", "patch", "delete"];

/// The cluster-wide permissions of the controller, one entry per resource.
///
/// The deploy manifests' ClusterRole must grant exactly these; a test
/// compares them. The HyperConverged is only read and its status patched,
/// and the SSP CR is read and server-side applied.
pub const CLUSTER_PERMISSIONS: &[Permission] = &[
    Permission {
        group: "hco.kubevirt.io",
        resource: "hyperconvergeds",
        verbs: READ,
    },
    Permission {
        group: "hco.kubevirt.io",
        resource: "hyperconvergeds/status",
        verbs: &["patch"],
    },
    Permission {
        group: "ssp.kubevirt.io",
        resource: "ssps",
        verbs: &["list", "watch", "patch"],
    },
    Permission {
        group: "cdi.kubevirt.io",
        resource: "dataimportcrons",
        verbs: READ_WRITE,
    },
    Permission {
        group: "cdi.kubevirt.io",
        resource: "dataimportcrons/status",
        verbs: &["patch"],
    },
    Permission {
        group: "cdi.kubevirt.io",
        resource: "datasources",
        verbs: READ_WRITE,
    },
    Permission {
        group: "cdi.kubevirt.io",
        resource: "datasources/status",
        verbs: &["patch"],
    },
    Permission {
        group: "cdi.kubevirt.io",
        resource: "datavolumes",
        verbs: READ_WRITE,
    },
    Permission {
        group: "",
        resource: "persistentvolumeclaims",
        verbs: &["get", "list", "watch", "patch", "delete"],
    },
    Permission {
        group: "storage.k8s.io",
        resource: "storageclasses",
        verbs: READ,
    },
    Permission {
        group: "snapshot.storage.k8s.io",
        resource: "volumesnapshots",
        verbs: READ_WRITE,
    },
    // The plan's events, in the namespace of the object each is about; a
    // repeated event patches its series count.
    Permission {
        group: "events.k8s.io",
        resource: "events",
        verbs: &["create", "patch"],
    },
];

/// The permissions the registry poller uses (imports stage): a merge patch
/// of a DataImportCron's annotations and of its status. They are part of
/// [`CLUSTER_PERMISSIONS`]; a test checks that.
pub const POLL_PERMISSIONS: &[Permission] = &[
    Permission {
        group: "cdi.kubevirt.io",
        resource: "dataimportcrons",
        verbs: &["patch"],
    },
    Permission {
        group: "cdi.kubevirt.io",
        resource: "dataimportcrons/status",
        verbs: &["patch"],
    },
];

/// The permissions on Leases in the controller's own namespace, used only
/// with `--leader-elect`.
pub const LEASE_PERMISSIONS: &[Permission] = &[Permission {
    group: "coordination.k8s.io",
    resource: "leases",
    verbs: &["get", "create", "update"],
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_lookup_ignores_version() {
        let kind = kind_of("cdi.kubevirt.io/v1alpha1", "DataSource");
        assert_eq!(kind.map(|k| k.plural), Some("datasources"));
    }

    #[test]
    fn core_kind_has_empty_group() {
        let kind = kind_of("v1", "PersistentVolumeClaim");
        assert_eq!(kind.map(|k| k.group), Some(""));
    }

    #[test]
    fn unknown_kind_is_none() {
        assert!(kind_of("v1", "Pod").is_none());
    }

    #[test]
    fn api_resource_splits_version() {
        let kind = &KINDS[0];
        let resource = api_resource("hco.kubevirt.io/v1beta1", kind);
        assert_eq!(resource.version, "v1beta1");
    }
}
