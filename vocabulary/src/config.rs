//! `key = value` configuration files, as every plugin of a node reads its
//! own (`plugins/config/<name>-<version>.conf`): one parser, so that every
//! plugin's keys are read and refused in the same words.
//!
//! Blank lines and lines starting with `#` are ignored. A missing key takes
//! its default (the caller's). An unknown key, a repeated key, a value out
//! of range or a malformed duration is an error naming the key, the value
//! given and what is accepted. Durations are the time portion of ISO-8601
//! (`1H`, `3S`, `5H3M2S`, `1H 30M`, either case).

use std::fmt;

/// A configuration problem, worded for the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of value a key takes.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A whole number in `min..=max`.
    Integer { min: u64, max: u64 },
    /// A duration of at least `min_ms`, and at most `max_ms` (`u64::MAX`:
    /// no maximum).
    Duration { min_ms: u64, max_ms: u64 },
}

/// A key a plugin accepts.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
}

/// Reads `text` against `keys`: each key given, with its value (a number,
/// or a duration in milliseconds), in the order given.
pub fn parse(text: &str, keys: &[Key]) -> Result<Vec<(&'static str, u64)>, ConfigError> {
    let mut values: Vec<(&'static str, u64)> = Vec::new();
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
        let Some(key) = keys.iter().find(|k| k.name == name) else {
            let known: Vec<&str> = keys.iter().map(|k| k.name).collect();
            return Err(ConfigError(format!(
                "unknown configuration key `{name}` (line {}); the keys are: {}",
                number + 1,
                known.join(", ")
            )));
        };
        if values.iter().any(|(seen, _)| *seen == key.name) {
            return Err(ConfigError(format!(
                "configuration key `{name}` is given twice (line {})",
                number + 1
            )));
        }
        values.push((key.name, value_of(key, value)?));
    }
    Ok(values)
}

fn value_of(key: &Key, value: &str) -> Result<u64, ConfigError> {
    let name = key.name;
    match key.kind {
        Kind::Integer { min, max } => parse_integer(value)
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| {
                ConfigError(format!(
                    "{name} = `{value}` is not accepted: it must be a whole number from {min} \
                     to {max}"
                ))
            }),
        Kind::Duration { min_ms, max_ms } => {
            let within = parse_duration_ms(value).and_then(|ms| {
                if ms < min_ms {
                    Err(format!(
                        "it is shorter than the minimum of {}",
                        format_ms(min_ms)
                    ))
                } else if ms > max_ms {
                    Err(format!(
                        "it is longer than the maximum of {}",
                        format_ms(max_ms)
                    ))
                } else {
                    Ok(ms)
                }
            });
            within.map_err(|why| {
                let range = if max_ms == u64::MAX {
                    format!("{} or more", format_ms(min_ms))
                } else {
                    format!("from {} to {}", format_ms(min_ms), format_ms(max_ms))
                };
                ConfigError(format!(
                    "{name} = `{value}` is not accepted: {why}; a duration is the time portion of \
                     ISO-8601, hours, minutes and seconds in that order, such as `1H`, `3S`, \
                     `5H3M2S` or `1H 30M` (either case, {range})"
                ))
            })
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
