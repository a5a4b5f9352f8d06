//! The admin API: the operator's way in, on `adminAddress` (keep it on
//! localhost). One endpoint, `POST /flow`, takes a Corda shell line as its
//! body and answers with the shell's text. Every request is authenticated
//! with HTTP Basic against `rpcUsers` and checked against the user's
//! permissions (`ALL` or `StartFlow.<Flow>`); refusals are logged.
//!
//! | status | when |
//! | --- | --- |
//! | 200 | the flow completed: `Flow completed with result: ...` |
//! | 400 | the line does not parse: what was wrong and what is accepted |
//! | 401 | no or wrong credentials |
//! | 403 | the user may not start that flow |
//! | 409 | the flow refused: `Flow failed: <SeedException>: ...` |
//! | 500 | the plugin failed |

use crate::config::RpcUser;
use crate::flows::{Outcome, flow_name};
use crate::runtime::Event;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The most bytes a shell line may have.
const MAX_LINE: usize = 1 << 20;

struct AdminState {
    users: Vec<RpcUser>,
    events: Mutex<std::sync::mpsc::Sender<Event>>,
}

/// The admin API's routes.
pub fn router(users: Vec<RpcUser>, events: std::sync::mpsc::Sender<Event>) -> Router {
    let state = Arc::new(AdminState {
        users,
        events: Mutex::new(events),
    });
    Router::new()
        .route("/flow", post(flow))
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

async fn flow(State(state): State<Arc<AdminState>>, headers: HeaderMap, body: String) -> Response {
    let Some(user) = authenticate(&state.users, &headers) else {
        tracing::warn!(target: "ledger_sync::admin", "refused an admin call without valid credentials");
        let mut response = text(
            StatusCode::UNAUTHORIZED,
            "authentication required: give an rpcUsers username and password (HTTP Basic)",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"ledger-sync\""),
        );
        return response;
    };
    // The flow's name decides the permission; the arguments are parsed
    // only for a user who may start it, and off the async workers (which
    // also carry the peer-to-peer transport).
    let flow = match crate::shell::flow_of(&body) {
        Ok(flow) => flow,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let allowed = user
        .permissions
        .iter()
        .any(|p| p == "ALL" || p.strip_prefix("StartFlow.") == Some(flow));
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
    let command = match tokio::task::spawn_blocking(move || crate::shell::parse(&body)).await {
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
    let sent = state
        .events
        .lock()
        .expect("events")
        .send(Event::Flow { command, reply });
    if sent.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "the node is shutting down");
    }
    match answer.await {
        Ok(Outcome::Completed(t)) => text(StatusCode::OK, t),
        Ok(Outcome::Refused(t)) => text(StatusCode::CONFLICT, t),
        Ok(Outcome::Failed(t)) => text(StatusCode::INTERNAL_SERVER_ERROR, t),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "the node is shutting down"),
    }
}
