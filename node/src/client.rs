//! The CLI's side of the admin API: `ledger-sync flow start ... --node DIR`
//! and `ledger-sync shell --node DIR` send a shell line to the node whose
//! directory is given, as its first rpcUsers account, and print the answer.

use crate::config::NodeConfig;
use base64::Engine;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// How long a flow call may take before the client gives up.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The admin API's answer: the HTTP status and the shell's text.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub text: String,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status == 200
    }
}

/// Who to call and as whom.
pub struct Client {
    address: std::net::SocketAddr,
    credentials: String,
}

impl Client {
    /// The node in `dir`, called as its first operator account.
    pub fn for_node(dir: &Path) -> Result<Client, String> {
        Self::as_account(dir, "rpcUsers account to call the admin API with", |_| true)
    }

    /// The node in `dir`, called as its first rpcUsers account that holds
    /// `permission` (or ALL).
    pub fn for_node_with(dir: &Path, permission: &str) -> Result<Client, String> {
        let wanted = format!("rpcUsers account holds {permission} or ALL, which this needs");
        Self::as_account(dir, &wanted, |u| {
            u.permissions.iter().any(|p| p == "ALL" || p == permission)
        })
    }

    /// The node in `dir`, called as its first account `pick` accepts; the
    /// error says "no {wanted}".
    fn as_account(
        dir: &Path,
        wanted: &str,
        pick: impl Fn(&crate::config::RpcUser) -> bool,
    ) -> Result<Client, String> {
        let config = NodeConfig::load(dir)?;
        let user = config.rpc_users.iter().find(|u| pick(u)).ok_or_else(|| {
            format!(
                "{}: no {wanted}",
                dir.join(crate::config::NODE_CONF).display()
            )
        })?;
        Ok(Client::new(
            config.admin_address,
            &user.username,
            &user.password,
        ))
    }

    pub fn new(address: std::net::SocketAddr, username: &str, password: &str) -> Client {
        Client {
            address,
            credentials: base64::engine::general_purpose::STANDARD
                .encode(format!("{username}:{password}")),
        }
    }

    /// `POST path` with `body`, on a fresh connection.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<Answer, String> {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\nContent-Type: \
             {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.address,
            self.credentials,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        exchange(self.address, &request, "the admin API")
    }

    /// Sends one shell line.
    pub fn call(&self, line: &str) -> Result<Answer, String> {
        let request = format!(
            "POST /flow HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\nContent-Type: \
             text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{line}",
            self.address,
            self.credentials,
            line.len()
        );
        exchange(self.address, request.as_bytes(), "the admin API")
    }
}

/// `GET /metrics` from a node's metrics address: the Prometheus text.
pub fn scrape_metrics(address: std::net::SocketAddr) -> Result<String, String> {
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let answer = exchange(address, request.as_bytes(), "the metrics endpoint")?;
    if answer.ok() {
        Ok(answer.text)
    } else {
        Err(format!(
            "the metrics endpoint answered {}: {}",
            answer.status, answer.text
        ))
    }
}

/// One HTTP/1.1 request on a fresh connection, read to its end.
fn exchange(address: std::net::SocketAddr, request: &[u8], what: &str) -> Result<Answer, String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
        .map_err(|e| format!("cannot reach {what} at {address}: {e}"))?;
    stream
        .set_read_timeout(Some(CALL_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request)
        .map_err(|e| format!("sending to {what}: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("reading {what}'s answer: {e}"))?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{what}'s answer is not HTTP"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{what}'s answer has no status"))?;
    Ok(Answer {
        status,
        text: body.to_string(),
    })
}
