//! How many connections a listener keeps open, in all and from one source
//! address: a connection past either cap is closed as soon as it is
//! accepted, so no stranger can hold more of the node's descriptors than
//! the caps, and one address cannot take the places of all the others.

use crate::log_limit::LogLimit;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// After a failed accept (out of file descriptors, say), wait this long
/// before the next: the loop must not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A listener that keeps within its [`ConnectionSlots`]: [`Self::accept`]
/// gives only connections that have a place, closes the others on arrival
/// and backs off after a failed accept, logging each kind of trouble at
/// most once a minute with how many went unlogged.
pub struct CappedListener {
    listener: tokio::net::TcpListener,
    slots: Arc<ConnectionSlots>,
    /// What the listener serves, for its log lines.
    what: String,
    /// Writes a warning under the caller's own target.
    warn: fn(std::fmt::Arguments),
    /// Counts a connection closed on arrival.
    on_over_capacity: Box<dyn Fn() + Send>,
    refusals: LogLimit,
}

impl CappedListener {
    pub fn new(
        listener: tokio::net::TcpListener,
        slots: Arc<ConnectionSlots>,
        what: &str,
        warn: fn(std::fmt::Arguments),
        on_over_capacity: impl Fn() + Send + 'static,
    ) -> CappedListener {
        CappedListener {
            listener,
            slots,
            what: what.to_string(),
            warn,
            on_over_capacity: Box::new(on_over_capacity),
            refusals: LogLimit::new(Duration::from_secs(60)),
        }
    }

    /// The next connection that has a place, with its place.
    pub async fn accept(&mut self) -> (tokio::net::TcpStream, SocketAddr, ConnectionSlot) {
        loop {
            let (stream, remote) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    if let Some(unlogged) = self.refusals.allow("accept") {
                        (self.warn)(format_args!(
                            "cannot accept on {}: {e}{unlogged}",
                            self.what
                        ));
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            match self.slots.take(remote.ip()) {
                Some(slot) => return (stream, remote, slot),
                None => {
                    (self.on_over_capacity)();
                    if let Some(unlogged) = self.refusals.allow("capacity") {
                        (self.warn)(format_args!(
                            "closed a connection on {} from {remote} at once: at most {} are \
                             kept, {} from one address{unlogged}",
                            self.what, self.slots.total_cap, self.slots.per_address_cap
                        ));
                    }
                }
            }
        }
    }
}

/// Open connections, in all and by source address.
pub struct ConnectionSlots {
    total_cap: usize,
    per_address_cap: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One connection's place; given back when dropped.
pub struct ConnectionSlot {
    slots: Arc<ConnectionSlots>,
    address: IpAddr,
}

impl ConnectionSlots {
    pub fn new(total_cap: usize, per_address_cap: usize) -> Arc<ConnectionSlots> {
        Arc::new(ConnectionSlots {
            total_cap,
            per_address_cap,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// A place for a connection from `address`, if both caps allow it.
    pub fn take(self: &Arc<Self>, address: IpAddr) -> Option<ConnectionSlot> {
        let mut open = self.open.lock().expect("connection slots");
        let (total, by_address) = &mut *open;
        let here = by_address.get(&address).copied().unwrap_or(0);
        if here >= self.per_address_cap || *total >= self.total_cap {
            return None;
        }
        by_address.insert(address, here + 1);
        *total += 1;
        Some(ConnectionSlot {
            slots: self.clone(),
            address,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().expect("connection slots");
        let (total, by_address) = &mut *open;
        *total -= 1;
        if let Some(n) = by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_in_all_and_per_address_and_places_come_back() {
        let slots = ConnectionSlots::new(3, 2);
        let a: IpAddr = [127, 0, 0, 2].into();
        let b: IpAddr = [127, 0, 0, 3].into();
        let first = slots.take(a).unwrap();
        let _second = slots.take(a).unwrap();
        assert!(slots.take(a).is_none(), "per address");
        let _third = slots.take(b).unwrap();
        assert!(slots.take(b).is_none(), "in all");
        drop(first);
        assert!(slots.take(a).is_some(), "a place comes back");
    }
}
