//! The TLS setup of the MKE client: the system's roots plus an optional CA
//! file, or no verification at all when the user asked for `--insecure`.
//!
//! The rustls configuration is built here with an explicit crypto provider
//! (ring) and handed to reqwest, so nothing depends on a process-wide default
//! provider.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::MkeError;

/// Builds the rustls client configuration.
pub(crate) fn client_config(
    ca_cert: Option<&Path>,
    insecure: bool,
) -> Result<rustls::ClientConfig, MkeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| MkeError::TlsSetup(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = if insecure {
        Arc::new(NoVerification(provider))
    } else {
        let extra = match ca_cert {
            Some(path) => load_ca_file(path)?,
            None => Vec::new(),
        };
        let has_extra = !extra.is_empty();
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
            .map_err(|e| match ca_cert {
                Some(path) if has_extra => MkeError::CaCert {
                    path: path.to_path_buf(),
                    reason: format!("not a usable CA certificate: {e}"),
                },
                _ => MkeError::TlsSetup(format!(
                    "{e}; install the system CA certificates, or give MKE's CA with --ca-cert \
                     FILE (or MKEPREP_CA_CERT)"
                )),
            })?;
        Arc::new(verifier)
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Reads every certificate of a PEM file; errors name the path.
fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, MkeError> {
    let err = |reason: String| MkeError::CaCert {
        path: path.to_path_buf(),
        reason,
    };
    let bytes =
        crate::util::fsx::read_input(path).map_err(|e| err(format!("cannot read it: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("not a valid PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(err(
            "it holds no PEM certificate (-----BEGIN CERTIFICATE-----); fetch MKE's CA with \
             `curl -k https://MKE_HOST/ca -o mke-ca.pem`"
                .to_string(),
        ));
    }
    // Parse each as a trust anchor now, so a corrupt file is reported here
    // with its path rather than as an untrusted server later.
    let mut store = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        store
            .add(cert.clone())
            .map_err(|e| err(format!("certificate {} is not usable: {e}", i + 1)))?;
    }
    Ok(certs)
}

/// Accepts any certificate (still checking the handshake signatures): what
/// `--insecure` asks for. The caller warns about it on every run.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(r: Result<rustls::ClientConfig, MkeError>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn missing_empty_and_garbage_ca_files_name_the_path_and_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "just text\n").unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        for (path, words) in [
            (&missing, "cannot read it"),
            (&empty, "holds no PEM certificate"),
            (&garbage, "not usable"),
        ] {
            let msg = message(client_config(Some(path), false));
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains("--ca-cert / MKEPREP_CA_CERT"), "{msg}");
            assert!(msg.contains(words), "{msg}");
        }
    }

    #[test]
    fn insecure_needs_no_roots() {
        assert!(client_config(None, true).is_ok());
    }
}
