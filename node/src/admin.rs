//! The admin API: the operator's way in, on `adminAddress` (keep it on
//! localhost). Every request is authenticated with HTTP Basic against
//! `rpcUsers` and checked against the user's permissions; refusals are
//! logged.
//!
//! `POST /flow` (`ALL` or `StartFlow.<Flow>`) takes a Corda shell line as
//! its body and answers with the shell's text (`flow list`, for any user,
//! lists every plugin's flows):
//!
//! | status | when |
//! | --- | --- |
//! | 200 | the flow completed: `Flow completed with result: ...` |
//! | 400 | the line does not parse: what was wrong and what is accepted |
//! | 401 | no or wrong credentials |
//! | 403 | the user may not start that flow |
//! | 409 | the flow refused: `Flow failed: <SeedException>: ...` |
//! | 500 | the plugin failed |
//!
//! `POST /vault/record` (`ALL` or `RecordTransactions`) takes one batch of
//! the ledger interchange format (at most [`Recorder::max_body`] bytes;
//! `ledger-sync vault record` cuts a file into such batches) and records it
//! whole or not at all, one request at a time:
//!
//! | status | when |
//! | --- | --- |
//! | 200 | recorded: JSON `{"new", "already", "missing", "missing_count"}` |
//! | 400 | a line was refused: its line (in the request), field, what is accepted |
//! | 409 | an id is recorded with other content, or the vault is a view read in place |
//! | 413 | the batch is larger than a request may be |
//! | 500 | the database refused the batch |

use crate::config::{RECORD_PERMISSION, RpcUser};
use crate::flows::{Outcome, flow_name};
use crate::ledger::{BatchAnswer, NAMED_MISSING_PER_REQUEST};
use crate::plugins::Plugins;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use ledger_sync_host::recording::{self, Batching, RecordError};
use ledger_sync_host::store::{Database, NodeStore};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The most bytes a shell line may have.
const MAX_LINE: usize = 1 << 20;

struct AdminState {
    users: Vec<RpcUser>,
    plugins: Arc<Plugins>,
    recorder: Recorder,
}

/// What `POST /vault/record` records into.
pub enum Recorder {
    /// ledger-sync's vault tables: one connection, one batch at a time.
    Tables {
        database: Database,
        max_payload_bytes: usize,
        connection: Arc<Mutex<Option<Box<dyn NodeStore>>>>,
        one_at_a_time: tokio::sync::Semaphore,
    },
    /// The vault is the operator's view: nothing is recorded through us.
    View(String),
}

impl Recorder {
    pub fn tables(database: Database, max_payload_bytes: usize) -> Recorder {
        Recorder::Tables {
            database,
            max_payload_bytes,
            connection: Arc::new(Mutex::new(None)),
            one_at_a_time: tokio::sync::Semaphore::new(1),
        }
    }

    /// The largest request body: a batch as `vault record` sends it, or
    /// one transaction with the largest payload.
    pub fn max_body(max_payload_bytes: usize) -> usize {
        crate::ledger::REQUEST_BYTES
            + ledger_sync_host::interchange::max_line_bytes(max_payload_bytes)
    }
}

/// The admin API's routes.
pub fn router(users: Vec<RpcUser>, plugins: Arc<Plugins>, recorder: Recorder) -> Router {
    let state = Arc::new(AdminState {
        users,
        plugins,
        recorder,
    });
    Router::new()
        .route("/flow", post(flow))
        .route("/vault/record", post(record))
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_LINE))
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, body.into()).into_response()
}

/// The user the request's Basic credentials name, if they are right.
fn authenticate<'a>(users: &'a [RpcUser], headers: &HeaderMap) -> Option<&'a RpcUser> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (name, password) = decoded.split_once(':')?;
    users.iter().find(|u| {
        u.username == name && constant_time_eq(u.password.as_bytes(), password.as_bytes())
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorised() -> Response {
    tracing::warn!(target: "ledger_sync::admin", "refused an admin call without valid credentials");
    let mut response = text(
        StatusCode::UNAUTHORIZED,
        "authentication required: give an rpcUsers username and password (HTTP Basic)",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"ledger-sync\""),
    );
    response
}

async fn flow(State(state): State<Arc<AdminState>>, headers: HeaderMap, body: String) -> Response {
    let Some(user) = authenticate(&state.users, &headers) else {
        return unauthorised();
    };
    if body.trim() == "flow list" {
        return text(StatusCode::OK, crate::shell::list(&state.plugins.catalog));
    }
    // The flow's name decides the permission; the arguments are parsed
    // only for a user who may start it, and off the async workers (which
    // also carry the peer-to-peer transport).
    let flow = match crate::shell::flow_of(&body, &state.plugins.catalog) {
        Ok(flow) => flow,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let allowed = user
        .permissions
        .iter()
        .any(|p| p == "ALL" || p.strip_prefix("StartFlow.") == Some(flow.as_str()));
    if !allowed {
        tracing::warn!(target: "ledger_sync::admin", user = %user.username, "refused {flow}: not permitted");
        return text(
            StatusCode::FORBIDDEN,
            format!(
                "user {} may not start {flow}; it needs the permission StartFlow.{flow} or ALL",
                user.username
            ),
        );
    }
    let parsing = state.clone();
    let parse = move || crate::shell::parse_in(&body, &parsing.plugins.catalog);
    let command = match tokio::task::spawn_blocking(parse).await {
        Ok(Ok(command)) => command,
        Ok(Err(e)) => return text(StatusCode::BAD_REQUEST, e.to_string()),
        Err(_) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the line could not be parsed",
            );
        }
    };
    debug_assert_eq!(flow_name(&command), flow);
    let (reply, answer) = oneshot::channel();
    if !state.plugins.flow(command, reply) {
        return text(StatusCode::SERVICE_UNAVAILABLE, "the node is shutting down");
    }
    match answer.await {
        Ok(Outcome::Completed(t)) => text(StatusCode::OK, t),
        Ok(Outcome::Refused(t)) => text(StatusCode::CONFLICT, t),
        Ok(Outcome::Failed(t)) => text(StatusCode::INTERNAL_SERVER_ERROR, t),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "the node is shutting down"),
    }
}

async fn record(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let Some(user) = authenticate(&state.users, &headers) else {
        return unauthorised();
    };
    if !user
        .permissions
        .iter()
        .any(|p| p == "ALL" || p == RECORD_PERMISSION)
    {
        tracing::warn!(target: "ledger_sync::admin", user = %user.username, "refused to record transactions: not permitted");
        return text(
            StatusCode::FORBIDDEN,
            format!(
                "user {} may not record transactions; it needs the permission \
                 {RECORD_PERMISSION} or ALL",
                user.username
            ),
        );
    }
    let (database, max_payload_bytes, connection, one_at_a_time) = match &state.recorder {
        Recorder::View(view) => {
            return text(
                StatusCode::CONFLICT,
                format!(
                    "this node reads its vault in place from vaultView {view}: record into \
                     your ledger's own tables"
                ),
            );
        }
        Recorder::Tables {
            database,
            max_payload_bytes,
            connection,
            one_at_a_time,
        } => (database, *max_payload_bytes, connection, one_at_a_time),
    };
    // One batch in memory at a time, whatever the number of callers.
    let Ok(_turn) = one_at_a_time.acquire().await else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "the node is shutting down");
    };
    let limit = Recorder::max_body(max_payload_bytes);
    let bytes = match read_body(body, limit).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "a request holds at most {limit} bytes (or it was cut short); send the ledger \
                     in batches, as `ledger-sync vault record` does"
                ),
            );
        }
        Err(BodyError::TooSlow { received }) => {
            tracing::warn!(target: "ledger_sync::admin", user = %user.username, received, "a batch to record arrived too slowly; dropped");
            return text(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the batch arrived too slowly ({received} bytes in time): a batch must \
                     arrive within {} s plus 1 s per {} KiB; nothing was recorded",
                    BODY_GRACE.as_secs(),
                    BODY_MIN_RATE / 1024
                ),
            );
        }
    };
    let recorded = tokio::task::spawn_blocking({
        let (database, connection) = (database.clone(), connection.clone());
        move || record_batch(&database, &connection, max_payload_bytes, &bytes)
    })
    .await;
    match recorded {
        Ok(Ok(outcome)) => answer_batch(&user.username, outcome),
        Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "recording the batch failed",
        ),
    }
}

/// How long a batch's body may take beyond [`BODY_MIN_RATE`]: only one
/// batch is read at a time, so a sender that trickles its body would hold
/// every other recording back (round 4: a slow body held the recorder for
/// as long as it liked).
const BODY_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
/// The slowest a batch may arrive, on average, in bytes a second.
const BODY_MIN_RATE: u64 = 256 * 1024;

enum BodyError {
    TooLarge,
    TooSlow { received: usize },
}

/// The whole body, if it holds at most `limit` bytes and arrives within
/// [`BODY_GRACE`] plus a second per [`BODY_MIN_RATE`] bytes received.
async fn read_body(mut body: axum::body::Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    use axum::body::HttpBody;
    let started = tokio::time::Instant::now();
    let mut out = Vec::new();
    loop {
        let allowed = BODY_GRACE
            + std::time::Duration::from_secs_f64(out.len() as f64 / BODY_MIN_RATE as f64);
        let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx));
        let frame = match tokio::time::timeout_at(started + allowed, next).await {
            Err(_) => {
                return Err(BodyError::TooSlow {
                    received: out.len(),
                });
            }
            Ok(None) => return Ok(out),
            Ok(Some(Err(_))) => return Err(BodyError::TooLarge),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(BodyError::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
}

/// Records one request's batch on the recorder's connection (made, or
/// made again after a store failure, here).
fn record_batch(
    database: &Database,
    connection: &Mutex<Option<Box<dyn NodeStore>>>,
    max_payload_bytes: usize,
    bytes: &[u8],
) -> Result<Result<recording::Summary, RecordError>, String> {
    let mut connection = connection.lock().expect("recorder");
    if connection.is_none() {
        *connection = Some(
            ledger_sync_host::store::connect(database)
                .map_err(|e| format!("cannot open the node database: {e:#}"))?,
        );
    }
    let db = connection.as_mut().expect("connected above");
    let batching = Batching {
        transactions: usize::MAX,
        bytes: u64::MAX,
        max_payload_bytes,
        named_missing: NAMED_MISSING_PER_REQUEST,
    };
    let outcome = recording::record(&mut **db, bytes, batching, |_| {});
    if matches!(outcome, Err(RecordError::Store { .. })) {
        // Made again for the next batch.
        *connection = None;
    }
    Ok(outcome)
}

/// The answer to a batch: its summary, or why nothing of it was stored
/// (the caller knows its lines).
fn answer_batch(user: &str, outcome: Result<recording::Summary, RecordError>) -> Response {
    match outcome {
        Ok(summary) => {
            tracing::info!(target: "ledger_sync::admin", user = %user, "{}", summary.describe().lines().next().unwrap_or_default());
            let answer = serde_json::to_string(&BatchAnswer::of(&summary)).expect("serialisable");
            (StatusCode::OK, answer).into_response()
        }
        Err(e) => {
            tracing::warn!(target: "ledger_sync::admin", user = %user, "refused a batch to record: {e}");
            match e {
                RecordError::Line { error, .. } => text(
                    StatusCode::BAD_REQUEST,
                    format!("{error} (of this request)"),
                ),
                RecordError::Conflict { conflict, .. } => {
                    text(StatusCode::CONFLICT, conflict.to_string())
                }
                RecordError::Store { message, .. } => {
                    text(StatusCode::INTERNAL_SERVER_ERROR, message)
                }
            }
        }
    }
}
