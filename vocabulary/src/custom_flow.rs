//! A flow a plugin offers beyond the seven reconciliation flows
//! (`extension.custom-flows`), and the rules its description keeps: the
//! shell matches flow names across every plugin of a node, so a name must
//! look like a flow's and must not take one of the seven.

/// The seven reconciliation flows' names, which no other plugin may take.
pub const RECONCILIATION_FLOWS: [&str; 7] = [
    "ScheduleReconciliationFlow",
    "GetReconciliationStatusesFlow",
    "GetReconciliationStatusForPartyFlow",
    "RefreshReconciliationStatusesFlow",
    "StopReconciliationForPartyFlow",
    "IsReconciliationScheduledForPartyFlow",
    "IsRespondingToReconciliationForPartyFlow",
];

/// The most flows one plugin may offer, and arguments one flow may take.
pub const MAX_CUSTOM_FLOWS: usize = 32;
pub const MAX_FLOW_ARGUMENTS: usize = 16;
/// A summary longer than this is cut.
pub const MAX_SUMMARY_BYTES: usize = 200;

/// What a flow name is, in the words errors use.
pub const FLOW_NAME_RULE: &str =
    "letters and digits, starting with an upper-case letter and ending in `Flow`, at most 64 bytes";
/// What an argument key is.
pub const ARGUMENT_RULE: &str =
    "letters and digits, starting with a lower-case letter, at most 32 bytes";

/// A flow a plugin offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomFlow {
    /// `AutomaticRecoveryFlow`: see [`FLOW_NAME_RULE`].
    pub name: String,
    /// The argument keys it takes, in order.
    pub arguments: Vec<String>,
    /// One line: what it does.
    pub summary: String,
}

/// Whether `name` keeps to [`FLOW_NAME_RULE`].
pub fn is_flow_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.ends_with("Flow")
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_argument(key: &str) -> bool {
    key.len() <= 32
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Checks the flows a plugin says it offers: at most
/// [`MAX_CUSTOM_FLOWS`], each named by [`FLOW_NAME_RULE`], none named
/// twice or after a reconciliation flow, each taking at most
/// [`MAX_FLOW_ARGUMENTS`] distinct keys by [`ARGUMENT_RULE`]. Summaries
/// are cut to [`MAX_SUMMARY_BYTES`] and kept to one line.
pub fn check_custom_flows(flows: Vec<CustomFlow>) -> Result<Vec<CustomFlow>, String> {
    if flows.len() > MAX_CUSTOM_FLOWS {
        return Err(format!(
            "it offers {} flows; at most {MAX_CUSTOM_FLOWS} are accepted",
            flows.len()
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut checked = Vec::with_capacity(flows.len());
    for mut flow in flows {
        let shown = crate::text::bounded(&flow.name, 80);
        if !is_flow_name(&flow.name) {
            return Err(format!(
                "its flow `{shown}` is misnamed: a flow name is {FLOW_NAME_RULE}"
            ));
        }
        if RECONCILIATION_FLOWS.contains(&flow.name.as_str()) || !seen.insert(flow.name.clone()) {
            return Err(format!("it offers {shown}, a name already taken"));
        }
        if flow.arguments.len() > MAX_FLOW_ARGUMENTS {
            return Err(format!(
                "{shown} takes {} arguments; at most {MAX_FLOW_ARGUMENTS} are accepted",
                flow.arguments.len()
            ));
        }
        let mut keys = std::collections::BTreeSet::new();
        for key in &flow.arguments {
            if !is_argument(key) || !keys.insert(key.as_str()) {
                return Err(format!(
                    "{shown} takes the argument `{}`, which is repeated or misnamed: an argument \
                     is {ARGUMENT_RULE}",
                    crate::text::bounded(key, 40)
                ));
            }
        }
        let line = flow.summary.lines().next().unwrap_or("");
        flow.summary = crate::text::bounded(line, MAX_SUMMARY_BYTES);
        checked.push(flow);
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(name: &str, arguments: &[&str]) -> CustomFlow {
        CustomFlow {
            name: name.into(),
            arguments: arguments.iter().map(|a| a.to_string()).collect(),
            summary: "first line\nsecond".into(),
        }
    }

    #[test]
    fn custom_flows_keep_to_the_shells_names() {
        let ok = check_custom_flows(vec![flow("PingFlow", &["party", "count"])]).unwrap();
        assert_eq!(ok[0].summary, "first line");
        for (bad, why) in [
            (vec![flow("pingFlow", &[])], "misnamed"),
            (vec![flow("Ping", &[])], "misnamed"),
            (vec![flow("Ping Flow", &[])], "misnamed"),
            (
                vec![flow("ScheduleReconciliationFlow", &[])],
                "already taken",
            ),
            (
                vec![flow("PingFlow", &[]), flow("PingFlow", &[])],
                "already taken",
            ),
            (vec![flow("PingFlow", &["Party"])], "repeated or misnamed"),
            (vec![flow("PingFlow", &["a", "a"])], "repeated or misnamed"),
        ] {
            let error = check_custom_flows(bad).unwrap_err();
            assert!(error.contains(why), "{error}");
        }
        let many = (0..33).map(|i| flow(&format!("F{i}Flow"), &[])).collect();
        assert!(check_custom_flows(many).unwrap_err().contains("at most 32"));
    }
}
