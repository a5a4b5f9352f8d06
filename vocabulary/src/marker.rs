//! Log markers, as the seed names them: the `marker` of a plugin log line
//! names the flow that emitted it, so operators can filter one flow's logs.

pub const RECONCILE_WITH_PARTY: &str = "ReconcileWithPartyFlow";
pub const REFRESH_RECONCILIATION_STATUSES: &str = "RefreshReconciliationStatusesFlow";
pub const STOP_RECONCILIATION_FOR_PARTY: &str = "StopReconciliationForPartyFlow";
pub const SCHEDULE_RECONCILIATION: &str = "ScheduleReconciliationFlow";
