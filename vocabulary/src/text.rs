//! Text that came from somewhere untrusted (a peer's abort reason, a guest's
//! log message, a party name) made safe to store and to log.

/// `text` cut to at most `max` bytes on a character boundary, with control
/// characters escaped (so one log call stays one line and nothing can forge
/// a log line or move a terminal's cursor); says how much was cut.
pub fn bounded(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 32);
    let mut cut = 0;
    for (at, c) in text.char_indices() {
        if out.len() >= max {
            cut = text.len() - at;
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if cut > 0 {
        out.push_str(&format!(" … ({cut} more bytes cut)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_control_laden_text_is_cut_and_escaped() {
        assert_eq!(bounded("plain", 100), "plain");
        assert_eq!(bounded("a\nb\x1b[31m", 100), "a\\nb\\u{1b}[31m");
        let cut = bounded(&"é".repeat(100), 11);
        assert!(cut.starts_with("éééééé …"), "{cut}");
        assert!(cut.ends_with("(188 more bytes cut)"), "{cut}");
    }
}
