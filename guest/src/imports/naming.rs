//! Import names (`<managedDataSource>-<12 chars of the digest>`), the
//! digest form of the import URL, and the cron labels that objects inherit.

/// Digest prefixes an import name can be made from: registry digests and
/// the `uid:` digests of PVC sources.
pub const DIGEST_PREFIXES: &[&str] = &["sha256:", "uid:"];
/// Characters of the digest, after its prefix, that go into an import name.
pub const DIGEST_CHARS_IN_NAME: usize = 12;
/// Maximum length of a Kubernetes object name (DNS-1123 subdomain).
pub const MAX_NAME_LENGTH: usize = 253;

/// The reason a digest cannot name an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestError {
    UnsupportedPrefix,
    TooShort,
}

impl std::fmt::Display for DigestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DigestError::UnsupportedPrefix => write!(f, "Digest has no supported prefix"),
            DigestError::TooShort => write!(f, "Digest is too short"),
        }
    }
}

/// Returns the name of the DataVolume, PVC and VolumeSnapshot that import
/// `digest` for `managed_data_source`: the DataSource name, a dash and the
/// 12 characters that follow the digest's `sha256:` or `uid:` prefix.
/// Names over 253 characters are shortened with an FNV hash.
pub fn import_name(managed_data_source: &str, digest: &str) -> Result<String, DigestError> {
    let rest = DIGEST_PREFIXES
        .iter()
        .find_map(|prefix| digest.strip_prefix(prefix))
        .ok_or(DigestError::UnsupportedPrefix)?;
    let suffix: String = rest.chars().take(DIGEST_CHARS_IN_NAME).collect();
    if suffix.chars().count() < DIGEST_CHARS_IN_NAME {
        return Err(DigestError::TooShort);
    }
    Ok(shorten(managed_data_source, &suffix, MAX_NAME_LENGTH))
}

/// Joins `base` and `suffix` with a dash. When the result is longer than
/// `max`, the base is cut and the 8-hex FNV-1a hash of the whole base goes
/// between: `<base-cut>-<hash>-<suffix>`. A suffix too long for that leaves
/// `<base-cut>-<hash of base-suffix>`, cut to `max`.
pub fn shorten(base: &str, suffix: &str, max: usize) -> String {
    let name = format!("{base}-{suffix}");
    if name.len() <= max {
        return name;
    }
    // 10 = the two dashes and the eight hex digits of the hash.
    match max.checked_sub(10 + suffix.len()) {
        Some(keep) => format!("{}-{}-{suffix}", cut(base, keep), fnv1a_hex(base)),
        None => {
            let prefix = cut(base, max.saturating_sub(9));
            let short = format!("{prefix}-{}", fnv1a_hex(&name));
            cut(&short, max).to_string()
        }
    }
}

fn cut(text: &str, max_bytes: usize) -> &str {
    let mut end = max_bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Returns the 32-bit FNV-1a hash of `text` as 8 lower-case hex digits.
pub fn fnv1a_hex(text: &str) -> String {
    format!("{:08x}", crate::hash::fnv1a32(text.as_bytes()))
}

/// Returns the import URL of a registry `url` for `digest`: the url with
/// any `:tag` or `@digest` of its last path segment removed, then
/// `@<digest>`. `docker://quay.io/kubevirt/junk:12.34` becomes
/// `docker://quay.io/kubevirt/junk@sha256:...`.
pub fn digest_url(url: &str, digest: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let rest = rest.split_once('@').map(|(r, _)| r).unwrap_or(rest);
    let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let untagged = match rest[last_slash..].find(':') {
        Some(colon) => &rest[..last_slash + colon],
        None => rest,
    };
    format!("{scheme}{untagged}@{digest}")
}

/// Tells whether a cron label is copied onto the objects it manages: keys
/// that match `^([\w.]+\.kubevirt.io|kubevirt.io)/[\w.-]+$`.
pub fn is_propagated_label(key: &str) -> bool {
    let Some((prefix, name)) = key.split_once('/') else {
        return false;
    };
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let prefix_ok = prefix == "kubevirt.io"
        || prefix
            .strip_suffix(".kubevirt.io")
            .is_some_and(|head| !head.is_empty() && head.chars().all(|c| word(c) || c == '.'));
    let name_ok = !name.is_empty() && name.chars().all(|c| word(c) || c == '.' || c == '-');
    prefix_ok && name_ok
}

/// Cron labels that the import DataVolume inherits even when another rule
/// would not copy them: the default instance type and preference, and the
/// dynamic-credentials switch.
pub const DATA_VOLUME_INHERITED_LABELS: &[&str] = &[
    "instancetype.kubevirt.io/default-instancetype",
    "instancetype.kubevirt.io/default-instancetype-kind",
    "instancetype.kubevirt.io/default-preference",
    "instancetype.kubevirt.io/default-preference-kind",
    "kubevirt.io/dynamic-credentials-support",
];
