//! Loopback ports for the processes a test starts (admin and metrics listeners).

use std::sync::atomic::{AtomicU32, Ordering};

/// Ports handed out: above every port `scripts/services.sh` uses (with its offsets) and below
/// Linux's default ephemeral range (32768–60999). A port from the ephemeral range, as `bind(0)`
/// gives, can be taken by any outgoing connection between the moment the harness picks it and the
/// moment floe binds it.
const POOL_START: u16 = 30_000;
const POOL_END: u16 = 32_768;

static HANDED_OUT: AtomicU32 = AtomicU32::new(0);

/// A loopback address no one listens on right now, outside the ephemeral range so nothing takes
/// it before the process it is meant for binds it. Each call in a test process gives another
/// port; test processes running side by side start at different places of the pool.
pub fn free_local_addr() -> String {
    let pool = u32::from(POOL_END - POOL_START);
    let start = std::process::id().wrapping_mul(7919) % pool;
    for _ in 0..pool {
        let n = HANDED_OUT.fetch_add(1, Ordering::Relaxed);
        let port = POOL_START + ((start + n) % pool) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return format!("127.0.0.1:{port}");
        }
    }
    panic!("no free loopback port in {POOL_START}..{POOL_END}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's range for ephemeral ports (`bind(0)` and the source ports of outgoing
    /// connections), as Linux reports it.
    fn ephemeral_range() -> std::ops::RangeInclusive<u16> {
        let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .expect("Linux reports its ephemeral port range");
        let mut bounds = text
            .split_whitespace()
            .map(|n| n.parse::<u16>().expect("a port"));
        let (low, high) = (bounds.next().expect("low"), bounds.next().expect("high"));
        low..=high
    }

    /// A port from the ephemeral range can be taken by any process's outgoing connection between
    /// the moment the harness picks it and the moment floe binds it ("Address already in use").
    #[test]
    fn free_ports_are_outside_the_ephemeral_range() {
        let ephemeral = ephemeral_range();
        let ports: Vec<u16> = (0..50)
            .map(|_| {
                let addr: std::net::SocketAddr = free_local_addr().parse().expect("an address");
                addr.port()
            })
            .collect();
        for port in &ports {
            assert!(!ephemeral.contains(port), "{port} is in {ephemeral:?}");
        }
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            ports.len(),
            "a port was handed out twice: {ports:?}"
        );
    }
}
