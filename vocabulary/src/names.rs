//! The names plugins and ledger adapters give themselves (`describe`):
//! a name names the component's configuration file, its log lines and
//! `--adapter NAME`, so it is kept to a safe alphabet, and a version is
//! `X.Y.Z`.

/// What a name is, in the words errors use.
pub const NAME_RULE: &str =
    "lower-case letters, digits and `-`, starting with a letter, at most 64 bytes";

/// Whether `name` is a component's name: see [`NAME_RULE`].
pub fn is_component_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Whether `version` is `X.Y.Z`: three dot-separated runs of digits, at
/// most 64 bytes.
pub fn is_version(version: &str) -> bool {
    version.len() <= 64
        && version.split('.').count() == 3
        && version
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_are_kept_to_their_alphabet() {
        for good in ["ledger-sync", "merkle", "a", "r2-d2"] {
            assert!(is_component_name(good), "{good}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            "Ledger",
            "2fast",
            "-x",
            "has space",
            "é",
            "a/b",
            "a.b",
            &long,
        ] {
            assert!(!is_component_name(bad), "{bad}");
        }
        for good in ["0.1.0", "10.20.30"] {
            assert!(is_version(good), "{good}");
        }
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "1..3",
            "1.2.x",
            "v1.2.3",
            "1.2.3-rc1",
        ] {
            assert!(!is_version(bad), "{bad}");
        }
    }
}
