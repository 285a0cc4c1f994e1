//! A TCP proxy that fails the network between two processes, not the processes: a worker
//! advertises the proxy's address, so the coordinator's calls go through it, while the worker's
//! own traffic (etcd, the broker, the store) does not. It can pass traffic, black-hole it (bytes
//! are read and dropped, so the sender sees an open connection that never answers), delay it,
//! or cut every connection.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::free_local_addr;

/// What the link does to the bytes crossing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFault {
    None,
    /// Bytes are dropped in both directions; new connections are accepted and never answered.
    BlackHole,
    /// Each chunk of bytes waits this long before it is passed on.
    Delay(Duration),
}

const NONE: u64 = 0;
const BLACK_HOLE: u64 = u64::MAX;

/// The fault as one word, so the pumps read it without a lock: 0 passes, `u64::MAX`
/// black-holes, anything else is a delay in milliseconds.
fn encode(fault: LinkFault) -> u64 {
    match fault {
        LinkFault::None => NONE,
        LinkFault::BlackHole => BLACK_HOLE,
        LinkFault::Delay(d) => (d.as_millis() as u64).clamp(1, BLACK_HOLE - 1),
    }
}

fn decode(word: u64) -> LinkFault {
    match word {
        NONE => LinkFault::None,
        BLACK_HOLE => LinkFault::BlackHole,
        ms => LinkFault::Delay(Duration::from_millis(ms)),
    }
}

struct Shared {
    upstream: String,
    fault: AtomicU64,
    stopped: AtomicBool,
    /// Both ends of every connection, to cut them.
    open: Mutex<Vec<TcpStream>>,
}

/// A proxy on a free loopback port in front of `upstream`, until dropped.
pub struct FaultyLink {
    address: String,
    shared: Arc<Shared>,
}

impl FaultyLink {
    /// Starts passing connections on a free loopback port to `upstream` (`host:port`).
    pub fn to(upstream: &str) -> FaultyLink {
        let address = free_local_addr();
        let listener = TcpListener::bind(&address)
            .unwrap_or_else(|e| panic!("faulty link listening on {address}: {e}"));
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            fault: AtomicU64::new(NONE),
            stopped: AtomicBool::new(false),
            open: Mutex::new(Vec::new()),
        });
        let accepting = shared.clone();
        std::thread::spawn(move || accept(listener, accepting));
        FaultyLink { address, shared }
    }

    /// The address that goes through the link.
    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn set(&self, fault: LinkFault) {
        eprintln!("[faulty link {}] {fault:?}", self.address);
        self.shared.fault.store(encode(fault), Ordering::SeqCst);
    }

    pub fn fault(&self) -> LinkFault {
        decode(self.shared.fault.load(Ordering::SeqCst))
    }

    /// Closes every open connection in both directions (the link stays up for new ones).
    pub fn cut(&self) {
        eprintln!("[faulty link {}] cutting every connection", self.address);
        for s in self.shared.open.lock().expect("open").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for FaultyLink {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.cut();
        // Wakes the accepting thread so that it sees the stop.
        let _ = TcpStream::connect(&self.address);
    }
}

fn accept(listener: TcpListener, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let shared = shared.clone();
        std::thread::spawn(move || connect(client, shared));
    }
}

/// Joins `client` to the upstream, once the link lets it through.
fn connect(client: TcpStream, shared: Arc<Shared>) {
    while decode(shared.fault.load(Ordering::SeqCst)) == LinkFault::BlackHole {
        // A black-holed connection is accepted and never answered: drain what it sends.
        client
            .set_read_timeout(Some(Duration::from_millis(100)))
            .ok();
        let mut buf = [0u8; 4096];
        match (&client).read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
    }
    client.set_read_timeout(None).ok();
    let Ok(server) = TcpStream::connect(&shared.upstream) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let ends = (client.try_clone(), server.try_clone());
    let (Ok(client2), Ok(server2)) = ends else {
        return;
    };
    if let Ok(mut open) = shared.open.lock() {
        open.extend(client.try_clone().ok());
        open.extend(server.try_clone().ok());
    }
    let back = shared.clone();
    std::thread::spawn(move || pump(server2, client2, back));
    pump(client, server, shared);
}

/// Copies `from` to `to` under the link's fault until either end closes.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        match decode(shared.fault.load(Ordering::SeqCst)) {
            LinkFault::None => {}
            LinkFault::BlackHole => continue,
            LinkFault::Delay(d) => std::thread::sleep(d),
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    /// An echo server on a free port: each line comes back.
    fn echo() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut w = s.try_clone().expect("clone");
                    for line in std::io::BufReader::new(s).lines() {
                        let Ok(line) = line else { return };
                        if writeln!(w, "{line}").is_err() {
                            return;
                        }
                    }
                });
            }
        });
        address
    }

    fn ask(stream: &TcpStream, line: &str) -> Option<String> {
        let mut w = stream.try_clone().expect("clone");
        writeln!(w, "{line}").ok()?;
        let mut answer = String::new();
        let mut r = std::io::BufReader::new(stream.try_clone().expect("clone"));
        r.read_line(&mut answer).ok()?;
        Some(answer.trim_end().to_owned()).filter(|a| !a.is_empty())
    }

    #[test]
    fn passes_black_holes_delays_and_cuts() {
        let link = FaultyLink::to(&echo());
        let s = TcpStream::connect(link.address()).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        assert_eq!(ask(&s, "one").as_deref(), Some("one"));

        link.set(LinkFault::BlackHole);
        assert_eq!(ask(&s, "two"), None, "nothing comes back");
        let fresh = TcpStream::connect(link.address()).expect("accepted");
        fresh
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        assert_eq!(ask(&fresh, "three"), None, "a new connection hangs too");

        link.set(LinkFault::Delay(Duration::from_millis(100)));
        let started = std::time::Instant::now();
        assert_eq!(ask(&s, "four").as_deref(), Some("four"));
        assert!(started.elapsed() >= Duration::from_millis(100));

        link.set(LinkFault::None);
        assert_eq!(ask(&fresh, "five").as_deref(), Some("five"), "healed");
        link.cut();
        assert_eq!(ask(&s, "six"), None, "cut");
    }
}
