//! A CA and certificates made at run time (rcgen), written as PEM files
//! for `paxon serve --cert-file ...` and `etcdctl --cacert ...`.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A certificate authority that signs certificates into one directory.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
    /// The CA's certificate file (`--trusted-ca-file`, `--cacert`).
    pub cert_file: PathBuf,
}

/// A certificate and its key, as files.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Ca {
    /// A new CA named `name`, its files under `dir`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        std::fs::create_dir_all(dir).expect("certs dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        let cert_file = dir.join(format!("{name}.pem"));
        std::fs::write(&cert_file, issuer.pem()).expect("write CA");
        Ca {
            issuer,
            dir: dir.to_path_buf(),
            cert_file,
        }
    }

    /// A certificate for `common_name`, valid for 127.0.0.1 and localhost,
    /// usable by servers and clients (a member is both to its peers).
    pub fn sign(&self, common_name: &str) -> CertFiles {
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let mut params = CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        let files = CertFiles {
            cert_file: self.dir.join(format!("{common_name}.pem")),
            key_file: self.dir.join(format!("{common_name}-key.pem")),
        };
        std::fs::write(&files.cert_file, cert.pem()).expect("write cert");
        std::fs::write(&files.key_file, key.serialize_pem()).expect("write key");
        files
    }
}
