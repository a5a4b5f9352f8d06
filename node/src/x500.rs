//! Legal names in certificates. The names themselves (parsing, the
//! canonical spelling) are the vocabulary's: [`LegalName`].

pub use ledger_sync_vocabulary::x500::LegalName;

/// The legal name in a certificate's subject.
pub fn from_certificate(
    cert: &x509_parser::certificate::X509Certificate<'_>,
) -> Result<LegalName, String> {
    let mut parts = Vec::new();
    for rdn in cert.subject().iter() {
        for attribute in rdn.iter() {
            let oid = attribute.attr_type();
            let key = if *oid == x509_parser::oid_registry::OID_X509_COMMON_NAME {
                "CN"
            } else if *oid == x509_parser::oid_registry::OID_X509_ORGANIZATIONAL_UNIT {
                "OU"
            } else if *oid == x509_parser::oid_registry::OID_X509_ORGANIZATION_NAME {
                "O"
            } else if *oid == x509_parser::oid_registry::OID_X509_LOCALITY_NAME {
                "L"
            } else if *oid == x509_parser::oid_registry::OID_X509_STATE_OR_PROVINCE_NAME {
                "ST"
            } else if *oid == x509_parser::oid_registry::OID_X509_COUNTRY_NAME {
                "C"
            } else {
                return Err(format!(
                    "the certificate's subject has an attribute {oid} a legal name cannot have"
                ));
            };
            let value = attribute
                .as_str()
                .map_err(|e| format!("the certificate's subject {key} is not text: {e}"))?;
            parts.push(format!("{key}={value}"));
        }
    }
    LegalName::parse(&parts.join(", "))
}
