//! Test certificates: a root and an intermediate CA (rcgen, ECDSA P-256) and leaves with the
//! defects the TLS checks look for. RSA keys, and the SHA-1 signature webpki and ring refuse to
//! make, come from the `openssl` command.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose, SubjectPublicKeyInfo,
};

/// 1024-bit finite-field DH parameters (a safe prime generated for this lab with
/// `openssl dhparam 1024`), for servers whose key exchange must be weak.
pub const DH_1024_PEM: &str = "-----BEGIN DH PARAMETERS-----
MIGHAoGBAKOWI+/Zn6G9nQ030PHIAQBzpu5uqItwFCBZcgzyAbQrqHH+lGRfwwUm
fmDUialBP21flekP5XpBaOfOULkqyk5t9gu/kc0YJ4ylnKIWv2LJh2cgmhQJ5/PR
Ec4f11SVfnjdj/Inyk4F6BJwWXs1wCKfLRT+sfWNHF5QpcYQZ3rnAgEC
-----END DH PARAMETERS-----\n";

/// A directory removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory under the system temp dir.
    pub fn new(label: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("posture-lab-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        TempDir(dir)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Write a file in it and return the path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ts(t: DateTime<Utc>) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "posture lab");
    dn.push(DnType::CommonName, cn);
    dn
}

/// The leaf's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafKey {
    /// ECDSA P-256 (rcgen).
    EcP256,
    /// RSA of this many bits (openssl genpkey).
    Rsa(u32),
}

/// What a leaf should look like.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    /// subjectAltName DNS names (or IP addresses).
    pub names: Vec<String>,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// Key.
    pub key: LeafKey,
    /// Self-signed instead of issued by the intermediate.
    pub self_signed: bool,
    /// A CA certificate (basicConstraints CA:TRUE), as when a CA's own certificate is served
    /// as a server's leaf.
    pub ca: bool,
    /// Signed with SHA-1 (by openssl, with the intermediate's key).
    pub sha1: bool,
    /// How many (syntactically valid, unsigned-by-any-log) SCTs to embed.
    pub scts: u8,
}

impl LeafSpec {
    /// A valid 90-day ECDSA leaf for `names`, issued by the intermediate.
    pub fn valid(names: &[&str]) -> LeafSpec {
        let now = Utc::now();
        LeafSpec {
            names: names.iter().map(|s| (*s).to_owned()).collect(),
            not_before: now - Duration::days(10),
            not_after: now + Duration::days(80),
            key: LeafKey::EcP256,
            self_signed: false,
            ca: false,
            sha1: false,
            scts: 0,
        }
    }
}

/// An issued leaf: files ready for any server.
#[derive(Debug)]
pub struct Leaf {
    /// The leaf certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The chain the server should send after the leaf (the intermediate), PEM.
    pub chain_pem: String,
    /// The leaf, DER.
    pub cert_der: Vec<u8>,
    /// The intermediate, DER (empty for self-signed leaves).
    pub chain_der: Vec<Vec<u8>>,
}

impl Leaf {
    /// Leaf then chain, PEM.
    pub fn full_chain_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.chain_pem)
    }
}

/// A private PKI: root, intermediate, and leaves on demand.
pub struct Pki {
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
    dir: TempDir,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").field("dir", &self.dir).finish()
    }
}

fn ca_params(cn: &str, path_len: Option<u8>) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = name(cn);
    p.is_ca = match path_len {
        Some(n) => IsCa::Ca(BasicConstraints::Constrained(n)),
        None => IsCa::Ca(BasicConstraints::Unconstrained),
    };
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = Utc::now();
    p.not_before = ts(now - Duration::days(365));
    p.not_after = ts(now + Duration::days(3650));
    p
}

/// Run `openssl` with `args`, panicking with its stderr on failure.
pub fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl {args:?}: {e} (install Debian's openssl)"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl Pki {
    /// A new root and intermediate.
    pub fn new() -> Pki {
        let root_key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let root = CertifiedIssuer::self_signed(ca_params("posture lab root CA", None), root_key)
            .unwrap_or_else(|e| panic!("{e}"));
        let int_key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let intermediate = CertifiedIssuer::signed_by(
            ca_params("posture lab issuing CA", Some(0)),
            int_key,
            &root,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Pki {
            root,
            intermediate,
            dir: TempDir::new("pki"),
        }
    }

    /// The root, PEM (what `--ca-file` trusts).
    pub fn root_pem(&self) -> String {
        self.root.pem()
    }

    /// An HTTP client that trusts this root (and only the public roots besides), following
    /// redirects when `follow`.
    pub fn client(&self, follow: bool) -> reqwest::Client {
        let mut b = reqwest::Client::builder().no_proxy();
        if let Ok(root) = reqwest::Certificate::from_pem(self.root_pem().as_bytes()) {
            b = b.add_root_certificate(root);
        }
        if !follow {
            b = b.redirect(reqwest::redirect::Policy::none());
        }
        b.build().unwrap_or_default()
    }

    /// The root, DER.
    pub fn root_der(&self) -> Vec<u8> {
        self.root.der().to_vec()
    }

    /// Write the root to a file and return its path.
    pub fn root_file(&self) -> PathBuf {
        self.dir.write("root.pem", self.root_pem())
    }

    /// Issue a leaf.
    pub fn leaf(&self, spec: &LeafSpec) -> Leaf {
        let mut params =
            CertificateParams::new(spec.names.clone()).unwrap_or_else(|e| panic!("{e}"));
        params.distinguished_name = name(spec.names.first().map_or("leaf", String::as_str));
        params.not_before = ts(spec.not_before);
        params.not_after = ts(spec.not_after);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        if spec.scts > 0 {
            params
                .custom_extensions
                .push(rcgen::CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2],
                    sct_list_extension(spec.scts),
                ));
        }
        let (key_pem, public): (String, SubjectPublicKeyInfo) = match spec.key {
            LeafKey::EcP256 => {
                let k = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
                let spki = SubjectPublicKeyInfo::from_pem(&k.public_key_pem())
                    .unwrap_or_else(|e| panic!("{e}"));
                (k.serialize_pem(), spki)
            }
            LeafKey::Rsa(bits) => {
                let key_pem = String::from_utf8(openssl(
                    &[
                        "genpkey",
                        "-algorithm",
                        "RSA",
                        "-pkeyopt",
                        &format!("rsa_keygen_bits:{bits}"),
                    ],
                    self.dir.path(),
                ))
                .unwrap_or_default();
                let key_file = self.dir.write(&format!("rsa-{bits}.key"), &key_pem);
                let pub_pem = String::from_utf8(openssl(
                    &[
                        "pkey",
                        "-in",
                        key_file.to_str().unwrap_or_default(),
                        "-pubout",
                    ],
                    self.dir.path(),
                ))
                .unwrap_or_default();
                (
                    key_pem,
                    SubjectPublicKeyInfo::from_pem(&pub_pem).unwrap_or_else(|e| panic!("{e}")),
                )
            }
        };
        if spec.ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        if spec.self_signed {
            let k = match spec.key {
                LeafKey::EcP256 => KeyPair::from_pem(&key_pem).unwrap_or_else(|e| panic!("{e}")),
                LeafKey::Rsa(_) => {
                    KeyPair::from_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)
                        .unwrap_or_else(|e| panic!("{e}"))
                }
            };
            let cert = params.self_signed(&k).unwrap_or_else(|e| panic!("{e}"));
            return Leaf {
                cert_pem: cert.pem(),
                key_pem,
                chain_pem: String::new(),
                cert_der: cert.der().to_vec(),
                chain_der: Vec::new(),
            };
        }
        let cert = params
            .signed_by(&public, &self.intermediate)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut leaf = Leaf {
            cert_pem: cert.pem(),
            key_pem,
            chain_pem: self.intermediate.pem(),
            cert_der: cert.der().to_vec(),
            chain_der: vec![self.intermediate.der().to_vec()],
        };
        if spec.sha1 {
            leaf = self.resign_sha1(leaf);
        }
        leaf
    }

    /// Re-sign a leaf with SHA-1 using openssl and the intermediate's key.
    fn resign_sha1(&self, leaf: Leaf) -> Leaf {
        let d = self.dir.path();
        let cert = self.dir.write("to-resign.pem", &leaf.cert_pem);
        let ca = self.dir.write("int.pem", self.intermediate.pem());
        let ca_key = self
            .dir
            .write("int.key", self.intermediate.key().serialize_pem());
        let key = self.dir.write("leaf.key", &leaf.key_pem);
        let csr = openssl(
            &[
                "x509",
                "-x509toreq",
                "-in",
                s(&cert),
                "-signkey",
                s(&key),
                "-copy_extensions",
                "copyall",
            ],
            d,
        );
        let csr = self.dir.write("leaf.csr", csr);
        let pem = openssl(
            &[
                "x509",
                "-req",
                "-sha1",
                "-in",
                s(&csr),
                "-CA",
                s(&ca),
                "-CAkey",
                s(&ca_key),
                "-CAcreateserial",
                "-days",
                "60",
                "-copy_extensions",
                "copyall",
            ],
            d,
        );
        let pem = String::from_utf8(pem).unwrap_or_default();
        let der = openssl(
            &[
                "x509",
                "-in",
                s(&self.dir.write("sha1.pem", &pem)),
                "-outform",
                "DER",
            ],
            d,
        );
        Leaf {
            cert_pem: pem,
            cert_der: der,
            ..leaf
        }
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

/// The extnValue of an embedded SCT list (RFC 6962 §3.3): an OCTET STRING holding a
/// TLS-encoded SignedCertificateTimestampList of `n` v1 SCTs with dummy log ids and signatures.
fn sct_list_extension(n: u8) -> Vec<u8> {
    let mut scts = Vec::new();
    for i in 0..n {
        let mut sct = vec![0u8]; // v1
        sct.extend_from_slice(&[i; 32]); // log id
        sct.extend_from_slice(&1_700_000_000_000u64.to_be_bytes()); // timestamp (ms)
        sct.extend_from_slice(&[0, 0]); // no extensions
        sct.extend_from_slice(&[4, 3]); // sha256, ecdsa
        sct.extend_from_slice(&[0, 8]);
        sct.extend_from_slice(&[0x30, 6, 2, 1, 1, 2, 1, 1]); // a tiny DER signature
        scts.extend_from_slice(&u16::try_from(sct.len()).unwrap_or(0).to_be_bytes());
        scts.extend_from_slice(&sct);
    }
    let mut list = u16::try_from(scts.len())
        .unwrap_or(0)
        .to_be_bytes()
        .to_vec();
    list.extend_from_slice(&scts);
    let mut octets = vec![0x04];
    match list.len() {
        n if n < 0x80 => octets.push(u8::try_from(n).unwrap_or(0)),
        n if n < 0x100 => octets.extend_from_slice(&[0x81, u8::try_from(n).unwrap_or(0)]),
        n => {
            octets.push(0x82);
            octets.extend_from_slice(&u16::try_from(n).unwrap_or(0).to_be_bytes());
        }
    }
    octets.extend_from_slice(&list);
    octets
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}
