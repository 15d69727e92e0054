//! HCO release whose boot-source behaviour to reproduce.
//!
//! Upstream behaviour changed between releases (sorting, customisation,
//! annotation merging, retention defaults, multi-arch). Each predicate below
//! names one such change and the release that introduced it.

use serde::{Serialize, Serializer};

use crate::error::Error;

/// An HCO `1.minor` release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HcoVersion {
    pub minor: u32,
}

impl HcoVersion {
    /// The oldest release with boot sources.
    pub const OLDEST: HcoVersion = HcoVersion { minor: 6 };
    /// The release `main` is developing; the default.
    pub const CURRENT: HcoVersion = HcoVersion { minor: 20 };

    /// Parses `1.8`, `v1.8` or `1.8.3`; the patch level is ignored.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = || {
            Error::invalid(format!("invalid HCO version {text:?}"))
                .at("hcoVersion")
                .hint(format!(
                    "write a release from 1.{} to 1.{}, e.g. 1.8",
                    Self::OLDEST.minor,
                    Self::CURRENT.minor
                ))
        };
        let trimmed = text.trim().trim_start_matches('v');
        let mut parts = trimmed.split('.');
        let major = parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .ok_or_else(invalid)?;
        let minor = parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .ok_or_else(invalid)?;
        if let Some(patch) = parts.next() {
            patch.parse::<u32>().map_err(|_| invalid())?;
        }
        if parts.next().is_some() || major != 1 {
            return Err(invalid());
        }
        let version = HcoVersion { minor };
        if version < Self::OLDEST || version > Self::CURRENT {
            return Err(invalid());
        }
        Ok(version)
    }

    /// 1.7: `status.dataImportCronTemplates`, the enable annotation,
    /// customising a common template by name, and name-sorted output.
    pub fn has_customisation(self) -> bool {
        self.minor >= 7
    }

    /// 1.8 (back-port): a disabled custom template is left out.
    pub fn skips_disabled_custom(self) -> bool {
        self.minor >= 8
    }

    /// 1.9: every template sent to SSP gets the immediate-bind annotation,
    /// and the mutating webhook adds it to spec entries.
    pub fn adds_immediate_bind(self) -> bool {
        self.minor >= 9
    }

    /// 1.11: `commonBootImageNamespace`.
    pub fn has_common_boot_image_namespace(self) -> bool {
        self.minor >= 11
    }

    /// 1.15: the `enableCommonBootImageImport` feature gate is deprecated.
    pub fn deprecates_feature_gate(self) -> bool {
        self.minor >= 15
    }

    /// 1.16: a customised common template merges the entry's annotations
    /// over the common's; multi-arch support.
    pub fn merges_annotations(self) -> bool {
        self.minor >= 16
    }

    /// 1.16: multi-architecture boot sources.
    pub fn has_multi_arch(self) -> bool {
        self.minor >= 16
    }

    /// 1.18: `retentionPolicy: None` and `importsToKeep: 1` defaults.
    pub fn defaults_retention(self) -> bool {
        self.minor >= 18
    }

    /// 1.19: SSP `enableMultipleArchitectures` is always set.
    pub fn always_sets_multi_arch(self) -> bool {
        self.minor >= 19
    }

    /// 1.19: the multi-arch feature gate is deprecated in favour of a spec
    /// field; the mutating webhook copies the gate to the field.
    pub fn moves_multi_arch_gate_to_field(self) -> bool {
        self.minor >= 19
    }

    /// API version of the SSP CR this release writes.
    pub fn ssp_api_version(self) -> &'static str {
        match self.minor {
            0..=9 => "ssp.kubevirt.io/v1beta1",
            10..=15 => "ssp.kubevirt.io/v1beta2",
            _ => "ssp.kubevirt.io/v1beta3",
        }
    }
}

impl Default for HcoVersion {
    fn default() -> Self {
        Self::CURRENT
    }
}

impl std::fmt::Display for HcoVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "1.{}", self.minor)
    }
}

impl Serialize for HcoVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
