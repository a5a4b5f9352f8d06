//! How many connections a listener keeps open, in all and from one source
//! address: a connection past either cap is closed as soon as it is
//! accepted, so no stranger can hold more of the node's descriptors than
//! the caps, and one address cannot take the places of all the others.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

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
