//! X.500 legal names as Corda writes them: `O=PartyA, L=London, C=GB`.
//!
//! A name is a set of attributes (O, L and C required; CN, OU and ST
//! optional). Two spellings with the attributes in another order or other
//! spacing are the same name; [`LegalName`]'s `Display` is the canonical
//! spelling (CN, OU, O, L, ST, C).

use std::fmt;

/// The attributes a legal name may have, in canonical order.
const ATTRIBUTES: [&str; 6] = ["CN", "OU", "O", "L", "ST", "C"];

/// ISO 3166-1 alpha-2 country codes, the values `C=` accepts.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ \
    BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE \
    DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR \
    GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP \
    KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT \
    MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW \
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG \
    TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// The most characters an attribute's value may have.
const MAX_VALUE: usize = 128;

/// Unicode's invisible format characters (category Cf) that change how
/// text around them reads: bidirectional overrides and isolates (U+202E
/// shows `txt.exe` as `exe.txt`), zero-width characters, the soft hyphen
/// and the byte-order mark.
fn is_format_character(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Checks one attribute's value: what Corda's legal-name rules refuse, and
/// for O (which names the node's directory) what a directory name cannot
/// be.
fn check_value(text: &str, key: &str, value: &str) -> Result<(), String> {
    if value.chars().count() > MAX_VALUE {
        return Err(format!(
            "`{text}`: {key} is longer than {MAX_VALUE} characters"
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || matches!(c, '"' | '\'' | '\\' | '$' | '/' | '=' | '\0'))
    {
        return Err(format!(
            "`{text}`: {key} holds {c:?}, which a legal name may not (no quotes, `$`, `=`, \
             slashes or control characters)"
        ));
    }
    if let Some(c) = value.chars().find(|c| is_format_character(*c)) {
        return Err(format!(
            "`{}`: {key} holds the invisible format character U+{:04X}, which a legal name may \
             not (it reorders or hides what logs and directory names show)",
            text.escape_unicode(),
            c as u32
        ));
    }
    if key == "O" && value.starts_with('.') {
        return Err(format!(
            "`{text}`: O may not start with `.` (it names the node's directory)"
        ));
    }
    if key == "C" && (value.len() != 2 || !COUNTRIES.split_whitespace().any(|c| c == value)) {
        return Err(format!(
            "`{text}`: C={value} is not an ISO 3166-1 alpha-2 country code (such as GB, US, FR)"
        ));
    }
    Ok(())
}

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
            check_value(text, attribute, value)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_format_characters_are_refused_by_code_point() {
        for c in ['\u{202E}', '\u{200B}', '\u{2066}', '\u{FEFF}'] {
            let name = format!("O=Party{c}A, L=London, C=GB");
            let err = LegalName::parse(&name).unwrap_err();
            assert!(err.contains(&format!("U+{:04X}", c as u32)), "{err}");
            assert!(
                !err.contains(c),
                "the error shows the character escaped: {err}"
            );
        }
        assert!(LegalName::parse("O=Société Générale, L=Paris, C=FR").is_ok());
    }

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
