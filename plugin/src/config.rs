//! The plugin's configuration: the seed's seven keys, their defaults and the
//! ranges they accept, plus four keys of our own (the inactivity timeout,
//! recurring reconciliation and the largest difference one reconciliation
//! may find), read from `key = value` text.
//!
//! Blank lines and lines starting with `#` are ignored. A missing key takes
//! its default. An unknown key, a repeated key, a value out of range or a
//! malformed duration is an error naming the key, the value given and what is
//! accepted — the node refuses to start rather than run on a guess.

/// Every setting, after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// How many coded-symbol batches a responder serves in one
    /// reconciliation (the seed's "IBF filter flows").
    pub max_number_of_ibf_filter_flows: u32,
    /// Reconciliations that may run at once, outgoing and incoming together.
    pub max_number_of_parallel_reconciliation_requests: u32,
    /// How long a requester keeps retrying a busy responder, in ms.
    pub max_reconciliation_retry_attempt_timeout_ms: u64,
    /// The sliding window for the incoming request limit, in ms.
    pub time_window_for_reconciliation_request_limit_ms: u64,
    /// Incoming requests answered per window.
    pub max_allowed_reconciliation_requests_per_time_window: u32,
    /// Transactions per vault page when building the ledger graph.
    pub transaction_reader_page_size: u32,
    /// The host's vault reader pool size (honoured by the host).
    pub transaction_reader_pool_size: u32,
    /// A reconciliation that hears nothing from its party for this long ends
    /// FAILED (the seed's would stay IN_PROGRESS forever), in ms.
    pub reconciliation_inactivity_timeout_ms: u64,
    /// How often to reconcile with counterparties unprompted, in ms; 0 is off.
    pub recurring_reconciliation_interval_ms: u64,
    /// How many counterparties, picked at random, each recurring
    /// reconciliation covers; 0 means all of them.
    pub recurring_reconciliation_parties: u32,
    /// The largest difference (transactions on either side) one
    /// reconciliation may find. It bounds, whatever a peer claims, the coded
    /// symbols a requester asks for and keeps and a responder streams:
    /// about 2 symbols (37 bytes each on the wire, ~90 bytes of memory) per
    /// difference.
    pub max_reconciliation_differences: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_number_of_ibf_filter_flows: 5,
            max_number_of_parallel_reconciliation_requests: 3,
            max_reconciliation_retry_attempt_timeout_ms: HOUR_MS,
            time_window_for_reconciliation_request_limit_ms: HOUR_MS,
            max_allowed_reconciliation_requests_per_time_window: 1000,
            transaction_reader_page_size: 100,
            transaction_reader_pool_size: 10,
            reconciliation_inactivity_timeout_ms: 10 * MINUTE_MS,
            recurring_reconciliation_interval_ms: 0,
            recurring_reconciliation_parties: 0,
            max_reconciliation_differences: 1_000_000,
        }
    }
}

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;

pub use ledger_sync_vocabulary::config::{ConfigError, format_ms, parse_duration_ms};
use ledger_sync_vocabulary::config::{Key, Kind};

/// A duration with no maximum.
const NO_MAX: u64 = u64::MAX;

const KEYS: &[Key] = &[
    Key {
        name: "maxNumberOfIbfFilterFlows",
        kind: Kind::Integer { min: 1, max: 15 },
    },
    Key {
        name: "maxNumberOfParallelReconciliationRequests",
        kind: Kind::Integer { min: 1, max: 10 },
    },
    Key {
        name: "maxReconciliationRetryAttemptTimeout",
        kind: Kind::Duration {
            min_ms: 0,
            max_ms: NO_MAX,
        },
    },
    Key {
        name: "timeWindowForReconciliationRequestLimit",
        kind: Kind::Duration {
            min_ms: 0,
            max_ms: NO_MAX,
        },
    },
    Key {
        name: "maxAllowedReconciliationRequestsPerTimeWindow",
        kind: Kind::Integer {
            min: 0,
            max: 2_147_483_647,
        },
    },
    Key {
        name: "transactionReaderPageSize",
        kind: Kind::Integer {
            min: 10,
            max: 10_000_000,
        },
    },
    Key {
        name: "transactionReaderPoolSize",
        kind: Kind::Integer { min: 5, max: 1000 },
    },
    Key {
        name: "reconciliationInactivityTimeout",
        kind: Kind::Duration {
            min_ms: 1_000,
            max_ms: NO_MAX,
        },
    },
    Key {
        name: "recurringReconciliationInterval",
        kind: Kind::Duration {
            min_ms: 0,
            max_ms: NO_MAX,
        },
    },
    Key {
        name: "recurringReconciliationParties",
        kind: Kind::Integer {
            min: 0,
            max: 1_000_000,
        },
    },
    Key {
        name: "maxReconciliationDifferences",
        kind: Kind::Integer {
            min: 1,
            max: 10_000_000,
        },
    },
];

impl Config {
    /// Parses configuration text. Empty text gives the defaults.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        for (name, value) in ledger_sync_vocabulary::config::parse(text, KEYS)? {
            config.set(name, value);
        }
        Ok(config)
    }

    fn set(&mut self, name: &str, value: u64) {
        // Ranges were checked against KEYS, so the narrowing casts are exact.
        match name {
            "maxNumberOfIbfFilterFlows" => self.max_number_of_ibf_filter_flows = value as u32,
            "maxNumberOfParallelReconciliationRequests" => {
                self.max_number_of_parallel_reconciliation_requests = value as u32
            }
            "maxReconciliationRetryAttemptTimeout" => {
                self.max_reconciliation_retry_attempt_timeout_ms = value
            }
            "timeWindowForReconciliationRequestLimit" => {
                self.time_window_for_reconciliation_request_limit_ms = value
            }
            "maxAllowedReconciliationRequestsPerTimeWindow" => {
                self.max_allowed_reconciliation_requests_per_time_window = value as u32
            }
            "transactionReaderPageSize" => self.transaction_reader_page_size = value as u32,
            "transactionReaderPoolSize" => self.transaction_reader_pool_size = value as u32,
            "reconciliationInactivityTimeout" => self.reconciliation_inactivity_timeout_ms = value,
            "recurringReconciliationInterval" => self.recurring_reconciliation_interval_ms = value,
            "recurringReconciliationParties" => {
                self.recurring_reconciliation_parties = value as u32
            }
            "maxReconciliationDifferences" => self.max_reconciliation_differences = value as u32,
            _ => unreachable!("every key in KEYS is handled"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_gives_the_seeds_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        assert_eq!(Config::default().max_number_of_ibf_filter_flows, 5);
    }

    #[test]
    fn durations_follow_the_iso_time_portion() {
        assert_eq!(parse_duration_ms("1H"), Ok(3_600_000));
        assert_eq!(parse_duration_ms("3s"), Ok(3_000));
        assert_eq!(parse_duration_ms("5H3M2S"), Ok(18_182_000));
        assert_eq!(parse_duration_ms(" 1H 30M "), Ok(5_400_000));
        assert_eq!(parse_duration_ms("0s"), Ok(0));
        for bad in [
            "", "1", "1D", "PT1H", "1.5H", "M", "1S1H", "1H1H", "1 H", "-1S",
        ] {
            assert!(parse_duration_ms(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn errors_name_the_key_the_value_and_what_is_accepted() {
        let e = Config::parse("maxNumberOfIbfFilterFlows = 16")
            .unwrap_err()
            .0;
        assert!(
            e.contains("maxNumberOfIbfFilterFlows") && e.contains("16") && e.contains("1 to 15")
        );
        let e = Config::parse("maxReconciliationRetryAttemptTimeout = 1D")
            .unwrap_err()
            .0;
        assert!(e.contains("maxReconciliationRetryAttemptTimeout") && e.contains("`1D`"));
        let e = Config::parse("colour = blue").unwrap_err().0;
        assert!(e.contains("colour") && e.contains("transactionReaderPageSize"));
    }

    #[test]
    fn reads_every_key() {
        let c = Config::parse(
            "# comment\nmaxNumberOfIbfFilterFlows = 15\nmaxNumberOfParallelReconciliationRequests=1\n\
             maxReconciliationRetryAttemptTimeout = 2m\ntimeWindowForReconciliationRequestLimit = 1h 1s\n\
             maxAllowedReconciliationRequestsPerTimeWindow = 0\ntransactionReaderPageSize = 10000000\n\
             transactionReaderPoolSize = 5\n",
        )
        .unwrap();
        assert_eq!(c.max_number_of_ibf_filter_flows, 15);
        assert_eq!(c.max_number_of_parallel_reconciliation_requests, 1);
        assert_eq!(c.max_reconciliation_retry_attempt_timeout_ms, 120_000);
        assert_eq!(c.time_window_for_reconciliation_request_limit_ms, 3_601_000);
        assert_eq!(c.max_allowed_reconciliation_requests_per_time_window, 0);
        assert_eq!(c.transaction_reader_page_size, 10_000_000);
        assert_eq!(c.transaction_reader_pool_size, 5);
        let c = Config::parse(
            "reconciliationInactivityTimeout = 30S\nrecurringReconciliationInterval = 6H\n\
             recurringReconciliationParties = 7",
        )
        .unwrap();
        assert_eq!(c.reconciliation_inactivity_timeout_ms, 30_000);
        assert_eq!(c.recurring_reconciliation_interval_ms, 6 * HOUR_MS);
        assert_eq!(c.recurring_reconciliation_parties, 7);
        let e = Config::parse("reconciliationInactivityTimeout = 0S")
            .unwrap_err()
            .0;
        assert!(e.contains("reconciliationInactivityTimeout") && e.contains("1S or more"));
    }
}
