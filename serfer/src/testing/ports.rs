//! Loopback ports for the processes a test or the benchmark starts.

use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

/// A port on 127.0.0.1 free for both TCP and UDP a moment ago (gossip uses both), for
/// a process that must be told its port up front (`serf agent -bind=…`, `-rpc-addr`).
/// Also serves as a port nothing listens on.
///
/// Taken below the kernel's ephemeral range: a port handed out by binding port 0 is
/// in that range, and between releasing it and the process binding it, an outgoing
/// connection (a cluster makes hundreds) can take it; a Go agent then exits with
/// "address already in use". Ports are handed out in turn, never twice by one
/// process, starting at a place that depends on the process ID so that two test
/// binaries (or two benchmarks) on one host do not walk the same sequence.
///
/// # Panics
/// When 1,000 candidates in a row are taken.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = ephemeral_low().clamp(2048, 65535);
    let span = low - 1024;
    let _ = NEXT.compare_exchange(
        0,
        1 + std::process::id() % span,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..1000 {
        let port = (1024 + NEXT.fetch_add(1, Ordering::SeqCst) % span) as u16;
        let Ok(_tcp) = TcpListener::bind(("127.0.0.1", port)) else {
            continue;
        };
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both TCP and UDP on 127.0.0.1 below {low} after 1000 tries");
}

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    #[test]
    fn ports_are_distinct_below_the_ephemeral_range_and_bindable() {
        let a = super::free_port();
        let b = super::free_port();
        assert_ne!(a, b);
        for p in [a, b] {
            assert!(u32::from(p) < super::ephemeral_low().max(2048), "{p}");
            // A child forked by a test running beside this one holds copies of the
            // probe sockets until it execs: bindable again within moments, not at once.
            let deadline = Instant::now() + crate::testing::bounds::REPLY;
            while std::net::TcpListener::bind(("127.0.0.1", p)).is_err()
                || std::net::UdpSocket::bind(("127.0.0.1", p)).is_err()
            {
                assert!(Instant::now() < deadline, "port {p} stays taken");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}
