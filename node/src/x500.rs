//! X.500 legal names as Corda writes them: `O=PartyA, L=London, C=GB`.
//!
//! A name is a set of attributes (O, L and C required; CN, OU and ST
//! optional). Two spellings with the attributes in another order or other
//! spacing are the same name; [`LegalName`]'s `Display` is the canonical
//! spelling (CN, OU, O, L, ST, C).

use std::fmt;

/// The attributes a legal name may have, in canonical order.
const ATTRIBUTES: [&str; 6] = ["CN", "OU", "O", "L", "ST", "C"];

/// A parsed legal name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LegalName {
    /// (attribute, value) in canonical order.
    parts: Vec<(&'static str, String)>,
}

impl LegalName {
    /// Parses `O=PartyA, L=London, C=GB`.
    pub fn parse(text: &str) -> Result<LegalName, String> {
        let mut parts: Vec<(&'static str, String)> = Vec::new();
        for piece in text.split(',') {
            let Some((key, value)) = piece.split_once('=') else {
                return Err(format!(
                    "`{text}` is not an X.500 legal name: `{}` is not ATTRIBUTE=value; a name \
                     looks like \"O=PartyA, L=London, C=GB\"",
                    piece.trim()
                ));
            };
            let key = key.trim().to_ascii_uppercase();
            let Some(attribute) = ATTRIBUTES.iter().find(|a| **a == key) else {
                return Err(format!(
                    "`{text}` is not an X.500 legal name: `{key}` is not one of {}",
                    ATTRIBUTES.join(", ")
                ));
            };
            if parts.iter().any(|(a, _)| a == attribute) {
                return Err(format!("`{text}` gives {key} twice"));
            }
            let value = value.trim();
            if value.is_empty() {
                return Err(format!("`{text}` has an empty {key}"));
            }
            parts.push((attribute, value.to_string()));
        }
        for required in ["O", "L", "C"] {
            if !parts.iter().any(|(a, _)| *a == required) {
                return Err(format!(
                    "`{text}` is not a legal name: it needs {required}= (O, L and C are required, \
                     as in \"O=PartyA, L=London, C=GB\")"
                ));
            }
        }
        parts.sort_by_key(|(a, _)| ATTRIBUTES.iter().position(|x| x == a));
        Ok(LegalName { parts })
    }

    /// The value of one attribute.
    pub fn get(&self, attribute: &str) -> Option<&str> {
        self.parts
            .iter()
            .find(|(a, _)| *a == attribute)
            .map(|(_, v)| v.as_str())
    }

    /// The organisation (O=), which names the node's directory.
    pub fn organisation(&self) -> &str {
        self.get("O").expect("O is required")
    }

    /// The attributes in canonical order.
    pub fn parts(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.parts.iter().map(|(a, v)| (*a, v.as_str()))
    }
}

impl fmt::Display for LegalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, v)) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a}={v}")?;
        }
        Ok(())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_compare_by_attributes_and_print_canonically() {
        let a = LegalName::parse("O=PartyA, L=London, C=GB").unwrap();
        let b = LegalName::parse(" C=GB,O=PartyA ,l=London").unwrap();
        assert_eq!(a, b);
        assert_eq!(b.to_string(), "O=PartyA, L=London, C=GB");
        assert_eq!(a.organisation(), "PartyA");
        assert!(
            LegalName::parse("O=PartyA, L=London")
                .unwrap_err()
                .contains("needs C=")
        );
        assert!(
            LegalName::parse("PartyA")
                .unwrap_err()
                .contains("not ATTRIBUTE=value")
        );
        assert!(
            LegalName::parse("O=A, X=1, L=L, C=GB")
                .unwrap_err()
                .contains("`X` is not one of")
        );
        assert!(
            LegalName::parse("O=A, O=B, L=L, C=GB")
                .unwrap_err()
                .contains("twice")
        );
    }
}
