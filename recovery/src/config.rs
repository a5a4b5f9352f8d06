//! LedgerRecover's configuration, `ledger-recover-<version>.conf`: the keys
//! Corda's LedgerRecover documents, with its defaults and ranges, read and
//! refused in the same words as ledger-sync's own keys
//! (`ledger_sync_vocabulary::config`), plus one of ours.

use ledger_sync_vocabulary::config::{ConfigError, Key, Kind};

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;

/// Every setting, after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Transactions one recovery request (one ask) may name: a responder
    /// refuses more, a requester asks for no more.
    pub max_allowed_transactions: u32,
    /// Bytes of transactions a responder sends one party per
    /// `time_window_for_max_allowed_size_ms`.
    pub max_allowed_size_in_bytes: u64,
    pub time_window_for_max_allowed_size_ms: u64,
    /// Recovery requests a responder answers one party per
    /// `time_window_for_max_allowed_requests_ms`.
    pub max_allowed_requests: u32,
    pub time_window_for_max_allowed_requests_ms: u64,
    /// *Ours.* A requester that hears nothing for this long asks again for
    /// what it is waiting for; after five silences the recovery ends
    /// FAILED.
    pub recovery_inactivity_timeout_ms: u64,
    /// *Ours.* The longest one recovery may run, from when it was started
    /// (restarts included); past it the recovery ends FAILED, saying what
    /// was recorded and what is still outstanding.
    pub max_recovery_duration_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_allowed_transactions: 30,
            max_allowed_size_in_bytes: 3_000_000,
            time_window_for_max_allowed_size_ms: HOUR_MS,
            max_allowed_requests: 30,
            time_window_for_max_allowed_requests_ms: HOUR_MS,
            recovery_inactivity_timeout_ms: 30_000,
            max_recovery_duration_ms: 7 * 24 * HOUR_MS,
        }
    }
}

const KEYS: &[Key] = &[
    Key {
        name: "maxAllowedTransactions",
        kind: Kind::Integer { min: 1, max: 1000 },
    },
    Key {
        name: "maxAllowedSizeInBytes",
        kind: Kind::Integer {
            min: 1,
            max: 10_000_000,
        },
    },
    Key {
        name: "timeWindowForMaxAllowedSize",
        kind: Kind::Duration {
            min_ms: MINUTE_MS,
            max_ms: 24 * HOUR_MS,
        },
    },
    Key {
        name: "maxAllowedRequests",
        kind: Kind::Integer { min: 1, max: 1000 },
    },
    Key {
        name: "timeWindowForMaxAllowedRequests",
        kind: Kind::Duration {
            min_ms: MINUTE_MS,
            max_ms: 24 * HOUR_MS,
        },
    },
    Key {
        name: "recoveryInactivityTimeout",
        kind: Kind::Duration {
            min_ms: 1_000,
            max_ms: HOUR_MS,
        },
    },
    Key {
        name: "maxRecoveryDuration",
        kind: Kind::Duration {
            min_ms: MINUTE_MS,
            max_ms: 90 * 24 * HOUR_MS,
        },
    },
];

impl Config {
    /// Parses configuration text; empty text gives the defaults.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        for (name, value) in ledger_sync_vocabulary::config::parse(text, KEYS)? {
            // Ranges were checked against KEYS, so the casts are exact.
            match name {
                "maxAllowedTransactions" => config.max_allowed_transactions = value as u32,
                "maxAllowedSizeInBytes" => config.max_allowed_size_in_bytes = value,
                "timeWindowForMaxAllowedSize" => config.time_window_for_max_allowed_size_ms = value,
                "maxAllowedRequests" => config.max_allowed_requests = value as u32,
                "timeWindowForMaxAllowedRequests" => {
                    config.time_window_for_max_allowed_requests_ms = value
                }
                "recoveryInactivityTimeout" => config.recovery_inactivity_timeout_ms = value,
                "maxRecoveryDuration" => config.max_recovery_duration_ms = value,
                _ => unreachable!("every key in KEYS is handled"),
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corda_s_keys_with_their_defaults_and_ranges() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        let text = "maxAllowedTransactions = 1000\nmaxAllowedSizeInBytes = 10000000\n\
                    timeWindowForMaxAllowedSize = 1m\nmaxAllowedRequests = 5\n\
                    timeWindowForMaxAllowedRequests = 24H";
        let config = Config::parse(text).unwrap();
        assert_eq!(config.max_allowed_transactions, 1000);
        assert_eq!(config.time_window_for_max_allowed_size_ms, MINUTE_MS);
        assert_eq!(config.time_window_for_max_allowed_requests_ms, 24 * HOUR_MS);
        for (bad, why) in [
            ("maxAllowedTransactions = 0", "from 1 to 1000"),
            ("maxAllowedSizeInBytes = 10000001", "from 1 to 10000000"),
            (
                "timeWindowForMaxAllowedSize = 30S",
                "shorter than the minimum of 1M",
            ),
            (
                "timeWindowForMaxAllowedRequests = 25H",
                "longer than the maximum of 24H",
            ),
            ("maxAllowedReconciliations = 1", "unknown configuration key"),
        ] {
            let error = Config::parse(bad).unwrap_err().to_string();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }
}
