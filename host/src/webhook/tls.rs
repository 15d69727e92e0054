//! TLS for the webhook server: a certificate and key read from PEM files
//! and reloaded when either file changes.
//!
//! The files are checked on each TLS handshake (two `stat` calls), so a
//! renewed certificate, for example one cert-manager writes into a mounted
//! Secret, is served from the next connection on without a restart.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// Error loading the certificate and key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: failed to read the file: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: invalid PEM certificate chain: {message}")]
    Certificate { path: PathBuf, message: String },
    #[error("{path}: contains no PEM certificate; expected a `BEGIN CERTIFICATE` block")]
    NoCertificate { path: PathBuf },
    #[error("{path}: invalid PEM private key: {message}")]
    Key { path: PathBuf, message: String },
    #[error("the certificate in {cert} and the key in {key} do not form a usable pair: {message}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error("failed to set up TLS: {0}")]
    Config(#[source] rustls::Error),
}

/// Modification time and length of a file, to notice a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: SystemTime,
    len: u64,
}

impl FileStamp {
    fn read(path: &Path) -> Result<Self, TlsError> {
        let metadata = fs::metadata(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let modified = metadata.modified().map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(FileStamp {
            modified,
            len: metadata.len(),
        })
    }
}

/// Stamps of the certificate and key files together.
type PairStamp = (FileStamp, FileStamp);

#[derive(Debug)]
struct Loaded {
    /// Stamps of the files the served key was read from.
    stamp: PairStamp,
    key: Arc<CertifiedKey>,
    /// Stamps of the last reload that failed, so that a broken pair is
    /// logged once and not on every handshake.
    failed: Option<PairStamp>,
}

/// A certificate resolver that serves the key pair from two PEM files and
/// reloads it when either file's modification time or length changes.
///
/// A reload that fails (a missing file, invalid PEM, or a key that does
/// not match the certificate, as happens between the writes of the two
/// files) keeps the previous pair and is retried on the next handshake.
pub struct ReloadingCertificate {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Loaded>,
}

impl fmt::Debug for ReloadingCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCertificate")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl ReloadingCertificate {
    /// Loads the pair once; fails when the files cannot be read or do not
    /// form a pair.
    pub fn load(
        cert_path: &Path,
        key_path: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let stamp = (FileStamp::read(cert_path)?, FileStamp::read(key_path)?);
        let key = load_pair(cert_path, key_path, &provider)?;
        Ok(ReloadingCertificate {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            provider,
            current: RwLock::new(Loaded {
                stamp,
                key: Arc::new(key),
                failed: None,
            }),
        })
    }

    /// Returns the pair to serve, reloading it first when the files changed.
    fn refresh(&self) -> Arc<CertifiedKey> {
        let stamp = match (
            FileStamp::read(&self.cert_path),
            FileStamp::read(&self.key_path),
        ) {
            (Ok(cert), Ok(key)) => (cert, key),
            (Err(error), _) | (_, Err(error)) => {
                tracing::debug!(error = %error, "certificate files not readable; serving the loaded certificate");
                return self.served();
            }
        };
        if let Ok(current) = self.current.read() {
            if current.stamp == stamp || current.failed == Some(stamp) {
                return current.key.clone();
            }
        }

        let Ok(mut current) = self.current.write() else {
            return self.served();
        };
        match load_pair(&self.cert_path, &self.key_path, &self.provider) {
            Ok(key) => {
                tracing::info!(
                    cert = %self.cert_path.display(),
                    key = %self.key_path.display(),
                    "reloaded the TLS certificate"
                );
                current.key = Arc::new(key);
                current.stamp = stamp;
                current.failed = None;
            }
            Err(error) => {
                tracing::warn!(error = %error, "failed to reload the TLS certificate; serving the previous one");
                current.failed = Some(stamp);
            }
        }
        current.key.clone()
    }

    fn served(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(current) => current.key.clone(),
            Err(poisoned) => poisoned.into_inner().key.clone(),
        }
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.refresh())
    }
}

/// Builds the server's TLS configuration with the `ring` provider, HTTP/1.1
/// offered through ALPN, and the reloading certificate.
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = ReloadingCertificate::load(cert_path, key_path, provider.clone())?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn load_pair(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let cert_pem = fs::read(cert_path).map_err(|source| TlsError::Read {
        path: cert_path.to_path_buf(),
        source,
    })?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate {
            path: cert_path.to_path_buf(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_path_buf(),
        });
    }

    let key_pem = fs::read(key_path).map_err(|source| TlsError::Read {
        path: key_path.to_path_buf(),
        source,
    })?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Key {
        path: key_path.to_path_buf(),
        message: e.to_string(),
    })?;

    CertifiedKey::from_der(chain, key, provider).map_err(|e| TlsError::Mismatch {
        cert: cert_path.to_path_buf(),
        key: key_path.to_path_buf(),
        message: e.to_string(),
    })
}
