//! Registry credentials from a docker config file (`auths.<host>.auth`).

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

/// Credentials per registry host, as read from a docker config file.
#[derive(Clone, Default)]
pub struct AuthConfig {
    basic: BTreeMap<String, (String, String)>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("registries", &self.basic.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl AuthConfig {
    /// Reads `path`. Each `auths` key may be `host[:port]` or a URL such as
    /// `https://host/v1/`; `auth` is base64 of `user:password`, or
    /// `username` and `password` are given apart. The error names the file
    /// and the entry, never the secret.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: failed to read: {e}", path.display()))?;
        let config: DockerConfig = serde_json::from_str(&text)
            .map_err(|e| format!("{}: invalid docker config JSON: {e}", path.display()))?;
        let mut basic = BTreeMap::new();
        for (key, entry) in config.auths {
            let host = normalise_host(&key);
            let pair = match (&entry.auth, &entry.username, &entry.password) {
                (Some(encoded), _, _) => decode(encoded).ok_or_else(|| {
                    format!(
                        "{}: auths.{key}.auth is not base64 of user:password",
                        path.display()
                    )
                })?,
                (None, Some(user), Some(password)) => (user.clone(), password.clone()),
                _ => continue,
            };
            basic.insert(host, pair);
        }
        Ok(AuthConfig { basic })
    }

    /// True when credentials for `registry` (`host[:port]`) were given.
    pub fn has(&self, registry: &str) -> bool {
        self.basic.contains_key(registry)
    }

    /// Returns the credentials for `registry` (`host[:port]`), or anonymous
    /// access.
    pub fn for_registry(&self, registry: &str) -> RegistryAuth {
        match self.basic.get(registry) {
            Some((user, password)) => RegistryAuth::Basic(user.clone(), password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }
}

fn decode(encoded: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn normalise_host(key: &str) -> String {
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    without_scheme
        .split('/')
        .next()
        .unwrap_or(without_scheme)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_entry_decodes_per_host() {
        let dir = std::env::temp_dir().join(format!("bootsource-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        // "user:secret" in base64.
        std::fs::write(
            &path,
            r#"{"auths": {"https://127.0.0.1:5000/v1/": {"auth": "dXNlcjpzZWNyZXQ="}}}"#,
        )
        .unwrap();
        let config = AuthConfig::read(&path).unwrap();
        assert_eq!(
            config.for_registry("127.0.0.1:5000"),
            RegistryAuth::Basic("user".into(), "secret".into())
        );
        assert_eq!(config.for_registry("other:5000"), RegistryAuth::Anonymous);
    }

    #[test]
    fn bad_base64_names_entry() {
        let dir = std::env::temp_dir().join(format!("bootsource-auth-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(&path, r#"{"auths": {"r:1": {"auth": "%%%"}}}"#).unwrap();
        let error = AuthConfig::read(&path).err().unwrap_or_default();
        assert!(error.contains("auths.r:1.auth"), "{error}");
    }
}
