//! One process per node. Before a node process reads or writes anything of
//! its node, it takes an exclusive lock: on the node directory (a
//! `node.lock` file, `flock`ed, holding the holder's pid for messages), and,
//! when the database is PostgreSQL, a session advisory lock keyed by the
//! node's legal name on the server — so two directories pointed at one
//! database cannot both run the node either. A second process waits a
//! little (a quick restart while the old process is still stopping) and
//! then exits naming the holder, having changed nothing. The locks go with
//! the process: the operating system releases the file lock and the server
//! the advisory lock when its connection closes, even after `kill -9`.

use super::{Database, redact};
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a second process waits for the holder to let go.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

/// The lock file's name in the node directory.
pub const LOCK_FILE: &str = "node.lock";

/// Held for as long as the node process runs; dropping it lets go.
pub struct NodeLock {
    _file: File,
    /// The connection that holds the advisory lock (PostgreSQL only).
    _server: Option<::postgres::Client>,
}

/// Takes the node's locks, waiting at most `wait` for another process to
/// let go; the error names the holder and what to do.
pub fn lock_node(dir: &Path, name: &str, database: &Database, wait: Duration) -> Result<NodeLock> {
    let path = dir.join(LOCK_FILE);
    let deadline = Instant::now() + wait;
    let file = lock_file(&path, deadline)?;
    hold(file, name, database, deadline)
}

/// Takes the node's locks if no process holds the directory's: `None`
/// when a node process runs there (the caller then goes through it).
pub fn try_lock_node(dir: &Path, name: &str, database: &Database) -> Result<Option<NodeLock>> {
    let path = dir.join(LOCK_FILE);
    let file = open_lock_file(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(hold(file, name, database, Instant::now())?)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// With the file locked: writes our pid into it and takes the server's
/// lock.
fn hold(mut file: File, name: &str, database: &Database, deadline: Instant) -> Result<NodeLock> {
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    file.flush()?;
    let server = match database {
        Database::Postgres(url) => Some(advisory_lock(url, name, deadline)?),
        Database::Sqlite(_) => None,
    };
    Ok(NodeLock {
        _file: file,
        _server: server,
    })
}

fn open_lock_file(path: &PathBuf) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot open the node lock {}", path.display()))
}

fn lock_file(path: &PathBuf, deadline: Instant) -> Result<File> {
    let mut file = open_lock_file(path)?;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(POLL)
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                bail!(
                    "another ledger-sync node process{} is running on this node directory (it \
                     holds {} and did not let go within {}s); stop it first — two processes \
                     on one node would overwrite each other's reconciliation rows",
                    if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {holder})")
                    },
                    path.display(),
                    LOCK_WAIT.as_secs()
                );
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
    }
}

/// A session advisory lock keyed by the legal name, on its own connection.
fn advisory_lock(url: &str, name: &str, deadline: Instant) -> Result<::postgres::Client> {
    let shown = redact(url);
    let wait = deadline.saturating_duration_since(Instant::now());
    let mut client =
        super::postgres::PostgresStore::connect_plain(url, super::postgres::START_WAIT.max(wait))
            .with_context(|| format!("taking the node's lock on {shown}"))?;
    let key = format!("ledger-sync node {name}");
    loop {
        let row = client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                &[&key],
            )
            .with_context(|| format!("taking the node's advisory lock on {shown}"))?;
        if row.get::<_, bool>(0) {
            return Ok(client);
        }
        if Instant::now() >= deadline {
            bail!(
                "another ledger-sync node process is running as {name} on {shown} (it holds \
                 the node's advisory lock and did not let go within {}s); stop it first — two \
                 processes on one node would overwrite each other's reconciliation rows",
                LOCK_WAIT.as_secs()
            );
        }
        std::thread::sleep(POLL);
    }
}
