//! The vault reader pool: threads that read vault pages (from the node's
//! [`LedgerVault`], each on a connection of its own for the database
//! vaults) ahead of the plugin while it builds its ledger graph. The plugin says how many it wants (`start` returns
//! `host-requirements.vault-readers`, its `transactionReaderPoolSize`).
//!
//! The plugin reads the vault one page at a time (`read-transactions(after,
//! limit)`). When it asks for the page after `after`, the pool serves it —
//! from a read already under way when it guessed right — and starts reading
//! the pages that follow, one per reader, guessing that page `k` ahead starts
//! at `after + k·limit` (true while sequence numbers are dense, which they
//! are in an append-only vault). A wrong guess costs a wasted read, never a
//! wrong page: a page is always exactly what [`LedgerVault::read_page`] returns
//! for the cursor the plugin passed, and transactions recorded after it was
//! read sort after its last one. The one answer that can go stale — an empty
//! page, "the end of the vault" — is never served from a read ahead.

use crate::capabilities::LedgerVault;
use anyhow::{Context, Result};
use ledger_sync_vocabulary::page::TransactionPage;
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One page read: the cursor it was read after, the limit, where to reply.
struct Job {
    after: u64,
    limit: u32,
    reply: Sender<Result<TransactionPage, String>>,
}

/// A pool of vault readers for one node.
pub struct ReaderPool {
    jobs: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    /// Reads under way, by the cursor they read after (all with `limit`).
    ahead: BTreeMap<u64, Receiver<Result<TransactionPage, String>>>,
    limit: u32,
    pool_size: usize,
}

impl ReaderPool {
    /// Starts `pool_size` readers of `vault`.
    pub fn start(vault: &Arc<dyn LedgerVault>, pool_size: usize) -> Result<Self> {
        let pool_size = pool_size.max(1);
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut workers = Vec::with_capacity(pool_size);
        for n in 0..pool_size {
            let vault = vault.clone();
            let queue = queue.clone();
            let worker = std::thread::Builder::new()
                .name(format!("vault-reader-{n}"))
                .spawn(move || serve(vault, queue))
                .context("starting a vault reader thread")?;
            workers.push(worker);
        }
        Ok(ReaderPool {
            jobs: Some(jobs),
            workers,
            ahead: BTreeMap::new(),
            limit: 0,
            pool_size,
        })
    }

    /// How many readers the pool runs.
    pub fn pool_size(&self) -> usize {
        self.pool_size
    }

    /// The page of at most `limit` transactions after `after`, as
    /// [`LedgerVault::read_page`] gives it; reads the following pages ahead.
    pub fn read_page(&mut self, after: u64, limit: u32) -> Result<TransactionPage, String> {
        if limit != self.limit {
            self.ahead.clear();
            self.limit = limit;
        }
        // Guesses behind the plugin's cursor can no longer be used.
        self.ahead = self.ahead.split_off(&after);
        let receive = |pending: Receiver<Result<TransactionPage, String>>| {
            pending
                .recv()
                .map_err(|_| "a vault reader thread stopped".to_string())?
        };
        let mut page = match self.ahead.remove(&after) {
            Some(pending) => receive(pending)?,
            None => receive(self.submit(after, limit)?)?,
        };
        if page.ids.is_empty() {
            // An empty page read ahead says where the vault ended when it was
            // read; transactions may have been recorded since. Ask now.
            self.ahead.clear();
            page = receive(self.submit(after, limit)?)?;
        }
        if page.ids.len() == limit as usize * 32 {
            // Read ahead only while pages are full: a short page is the end.
            let step = limit as u64;
            for k in 1..self.pool_size as u64 {
                let guess = after.saturating_add(k * step);
                if !self.ahead.contains_key(&guess) {
                    let pending = self.submit(guess, limit)?;
                    self.ahead.insert(guess, pending);
                }
            }
        }
        Ok(page)
    }

    fn submit(
        &mut self,
        after: u64,
        limit: u32,
    ) -> Result<Receiver<Result<TransactionPage, String>>, String> {
        let (reply, pending) = channel();
        self.jobs
            .as_ref()
            .expect("jobs open until drop")
            .send(Job {
                after,
                limit,
                reply,
            })
            .map_err(|_| "the vault reader pool has stopped".to_string())?;
        Ok(pending)
    }
}

impl Drop for ReaderPool {
    fn drop(&mut self) {
        self.ahead.clear();
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn serve(vault: Arc<dyn LedgerVault>, queue: Arc<Mutex<Receiver<Job>>>) {
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let page = vault
            .read_page(job.after, job.limit)
            .map_err(|e| format!("{e:#}"));
        // The plugin may have moved on; an unwanted page is dropped.
        let _ = job.reply.send(page);
    }
}
