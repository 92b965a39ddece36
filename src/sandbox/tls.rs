//! A CA and a server certificate for the loopback addresses, made at every
//! start. The CA goes to the client; with `--wrong-ca` a second, unrelated
//! CA goes instead, so the client's verification must fail.

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use tokio_rustls::rustls::{
    self, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};

use super::SandboxError;

pub struct Tls {
    /// PEM of the CA handed to clients.
    pub ca_pem: String,
    pub server_config: Arc<ServerConfig>,
}

fn crypto(what: &'static str) -> impl Fn(rcgen::Error) -> SandboxError {
    move |e| SandboxError::Crypto {
        what,
        reason: e.to_string(),
    }
}

fn new_ca(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>, SandboxError> {
    let key = KeyPair::generate().map_err(crypto("the CA key"))?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(crypto("the CA"))?;
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "mkeprep sandbox");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, key).map_err(crypto("the CA"))
}

/// Makes the CA and a server certificate valid for `localhost` and `ips`.
pub fn generate(ips: &[IpAddr], wrong_ca: bool) -> Result<Tls, SandboxError> {
    let ca = new_ca("mkeprep sandbox CA")?;
    let key = KeyPair::generate().map_err(crypto("the server key"))?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])
        .map_err(crypto("the server certificate"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "ucp-controller (mkeprep sandbox)");
    params
        .subject_alt_names
        .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = params
        .signed_by(&key, &ca)
        .map_err(crypto("the server certificate"))?;
    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone(), ca.der().clone()];
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_error = |e: rustls::Error| SandboxError::Crypto {
        what: "the TLS server configuration",
        reason: e.to_string(),
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(tls_error)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // The wrong CA has its own name: with the same name OpenSSL clients fail
    // with an opaque ASN.1 error instead of "unable to get local issuer".
    let ca_pem = if wrong_ca {
        new_ca("mkeprep sandbox unrelated CA")?.pem()
    } else {
        ca.pem()
    };
    Ok(Tls {
        ca_pem,
        server_config: Arc::new(config),
    })
}
