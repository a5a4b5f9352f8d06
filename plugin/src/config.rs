//! The plugin's configuration: the seed's seven keys, their defaults and the
//! ranges they accept, plus four keys of our own (the inactivity timeout,
//! recurring reconciliation and the largest difference one reconciliation
//! may find), read from `key = value` text.
//!
//! Blank lines and lines starting with `#` are ignored. A missing key takes
//! its default. An unknown key, a repeated key, a value out of range or a
//! malformed duration is an error naming the key, the value given and what is
//! accepted — the node refuses to start rather than run on a guess.

use std::fmt;

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

/// A configuration problem, worded for the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of value a key takes.
enum Kind {
    Integer { min: u64, max: u64 },
    Duration { min_ms: u64 },
}

struct Key {
    name: &'static str,
    kind: Kind,
}

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
        kind: Kind::Duration { min_ms: 0 },
    },
    Key {
        name: "timeWindowForReconciliationRequestLimit",
        kind: Kind::Duration { min_ms: 0 },
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
        kind: Kind::Duration { min_ms: 1_000 },
    },
    Key {
        name: "recurringReconciliationInterval",
        kind: Kind::Duration { min_ms: 0 },
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
        let mut seen: Vec<&'static str> = Vec::new();
        for (number, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                return Err(ConfigError(format!(
                    "line {}: `{line}` is not `key = value`",
                    number + 1
                )));
            };
            let (name, value) = (name.trim(), value.trim());
            let Some(key) = KEYS.iter().find(|k| k.name == name) else {
                let known: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
                return Err(ConfigError(format!(
                    "unknown configuration key `{name}` (line {}); the keys are: {}",
                    number + 1,
                    known.join(", ")
                )));
            };
            if seen.contains(&key.name) {
                return Err(ConfigError(format!(
                    "configuration key `{name}` is given twice (line {})",
                    number + 1
                )));
            }
            seen.push(key.name);
            let parsed = match key.kind {
                Kind::Integer { min, max } => parse_integer(value)
                    .filter(|v| (min..=max).contains(v))
                    .ok_or_else(|| {
                        ConfigError(format!(
                            "{name} = `{value}` is not accepted: it must be a whole number \
                             from {min} to {max}"
                        ))
                    })?,
                Kind::Duration { min_ms } => parse_duration_ms(value)
                    .and_then(|ms| {
                        if ms >= min_ms {
                            Ok(ms)
                        } else {
                            Err(format!(
                                "it is shorter than the minimum of {}S",
                                min_ms / 1000
                            ))
                        }
                    })
                    .map_err(|why| {
                        ConfigError(format!(
                            "{name} = `{value}` is not accepted: {why}; a duration is the time \
                             portion of ISO-8601, hours, minutes and seconds in that order, such \
                             as `1H`, `3S`, `5H3M2S` or `1H 30M` (either case, {}S or more)",
                            min_ms / 1000
                        ))
                    })?,
            };
            config.set(key.name, parsed);
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

/// A duration for messages, in the configuration's notation (`1H2M3S`,
/// milliseconds when not whole seconds).
pub fn format_ms(ms: u64) -> String {
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}H");
    }
    if m > 0 {
        out += &format!("{m}M");
    }
    if sec > 0 || out.is_empty() {
        out += &format!("{sec}S");
    }
    out
}

fn parse_integer(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Parses the time portion of an ISO-8601 duration (`5H3M2S`, `1h 30m`) into
/// milliseconds.
pub fn parse_duration_ms(value: &str) -> Result<u64, String> {
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut last_unit = 0; // 0 none, 1 H, 2 M, 3 S: units must go down.
    let mut any = false;
    for c in value.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '\t' => {
                if !digits.is_empty() {
                    return Err(format!(
                        "a number must be followed by its unit, found `{digits} `"
                    ));
                }
            }
            'h' | 'H' | 'm' | 'M' | 's' | 'S' => {
                let (rank, unit_ms) = match c.to_ascii_uppercase() {
                    'H' => (1, 3_600_000u64),
                    'M' => (2, 60_000),
                    _ => (3, 1_000),
                };
                if digits.is_empty() {
                    return Err(format!("unit `{c}` has no number before it"));
                }
                if rank <= last_unit {
                    return Err(format!("unit `{c}` is repeated or out of order"));
                }
                let n: u64 = digits
                    .parse()
                    .map_err(|_| "the number is too large".to_string())?;
                total = n
                    .checked_mul(unit_ms)
                    .and_then(|ms| total.checked_add(ms))
                    .ok_or("the duration is too long")?;
                digits.clear();
                last_unit = rank;
                any = true;
            }
            other => return Err(format!("`{other}` is not allowed")),
        }
    }
    if !digits.is_empty() {
        return Err(format!("the number `{digits}` has no unit (H, M or S)"));
    }
    if !any {
        return Err("it is empty".into());
    }
    Ok(total)
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
