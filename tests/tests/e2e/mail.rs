//! Mail record parsers on keys made by a real tool.

use posture_agent::probe::mail::dkim;
use posture_lab::pki::{TempDir, openssl};

#[test]
fn dkim_rsa_key_sizes_from_openssl_keys() {
    let dir = TempDir::new("dkim");
    for bits in [1024u32, 2048] {
        let key = format!("k{bits}.pem");
        openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                &format!("rsa_keygen_bits:{bits}"),
                "-out",
                &key,
            ],
            dir.path(),
        );
        let der = openssl(
            &["pkey", "-in", &key, "-pubout", "-outform", "DER"],
            dir.path(),
        );
        let p = String::from_utf8(openssl_base64(&der, dir.path())).unwrap();
        let record = dkim::parse(&format!("v=DKIM1; k=rsa; p={}", p.trim())).unwrap();
        assert_eq!(record.key_bits, Some(bits));
        assert!(!record.revoked);
    }
}

fn openssl_base64(der: &[u8], dir: &std::path::Path) -> Vec<u8> {
    let file = dir.join("pub.der");
    std::fs::write(&file, der).unwrap();
    openssl(&["base64", "-A", "-in", file.to_str().unwrap()], dir)
}
