//! An HTTP proxy that fails requests the way a store or a catalog behind a load balancer does,
//! which a TCP cut hits only by luck of timing: an upload answered `503` half-way through its
//! body, and a request that reached the server (a commit that landed) whose answer is lost or
//! replaced by a `502`. The test arms a fault for the next requests that match, and asks
//! afterwards how many were hit, so a run whose faults never fired is seen.
//!
//! Each request goes upstream on a connection of its own, with its headers as sent (the `Host`
//! a client signed stays the proxy's).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use crate::free_local_addr;

/// What happens to an armed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFault {
    /// The proxy reads the body's first chunk (the whole of a small one), never sends the
    /// request on, and answers `503` (or the client sees the connection close first).
    FailMidUpload,
    /// The request reaches the server; its answer is dropped with the connection.
    LoseAnswer,
    /// The request reaches the server; the client gets a `502` in place of its answer.
    BadGatewayAfterLanding,
}

/// Which requests a fault is armed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requests {
    /// Every `PUT` or `POST`: S3 uploads, every multipart step, and batch deletes.
    Uploads,
    /// `POST …/namespaces/{ns}/tables/{table}` and `POST …/transactions/commit` (REST catalog
    /// table commits).
    Commits,
}

impl Requests {
    fn matches(self, method: &Method, path: &str) -> bool {
        match self {
            Requests::Uploads => method == Method::PUT || method == Method::POST,
            Requests::Commits => {
                method == Method::POST
                    && (path.ends_with("/transactions/commit")
                        || path
                            .split_once("/namespaces/")
                            .and_then(|(_, rest)| rest.split_once("/tables/"))
                            .is_some_and(|(_, table)| !table.is_empty() && !table.contains('/')))
            }
        }
    }
}

#[derive(Default)]
struct Armed {
    /// (fault, requests, how many more to hit), the oldest first.
    next: Vec<(HttpFault, Requests, u32)>,
    /// What was hit: (fault, method, path). A fault after landing counts once the request
    /// landed.
    hits: Vec<(HttpFault, String, String)>,
}

/// A proxy on a free loopback port in front of `upstream`, until dropped.
pub struct FaultyHttp {
    address: String,
    armed: Arc<Mutex<Armed>>,
    _runtime: tokio::runtime::Runtime,
}

impl FaultyHttp {
    /// Starts proxying a free loopback port to `upstream` (`host:port`).
    pub fn to(upstream: &str) -> FaultyHttp {
        let address = free_local_addr();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("the faulty proxy's runtime");
        let listener = runtime
            .block_on(TcpListener::bind(&address))
            .unwrap_or_else(|e| panic!("faulty http proxy listening on {address}: {e}"));
        let armed = Arc::new(Mutex::new(Armed::default()));
        runtime.spawn(accept(listener, upstream.to_owned(), armed.clone()));
        FaultyHttp {
            address,
            armed,
            _runtime: runtime,
        }
    }

    /// The address that goes through the proxy.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// `count` more requests matching `requests` get `fault`, after those armed before.
    pub fn arm(&self, fault: HttpFault, requests: Requests, count: u32) {
        eprintln!(
            "[faulty http {}] {count} more {requests:?} get {fault:?}",
            self.address
        );
        self.armed
            .lock()
            .expect("armed")
            .next
            .push((fault, requests, count));
    }

    /// Faults armed and not yet hit are dropped.
    pub fn disarm(&self) {
        self.armed.lock().expect("armed").next.clear();
    }

    /// How many requests `fault` was done to.
    pub fn hits(&self, fault: HttpFault) -> usize {
        let armed = self.armed.lock().expect("armed");
        armed.hits.iter().filter(|(f, _, _)| *f == fault).count()
    }
}

async fn accept(listener: TcpListener, upstream: String, armed: Arc<Mutex<Armed>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let (upstream, armed) = (upstream.clone(), armed.clone());
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req| handle(req, upstream.clone(), armed.clone()));
            // A connection the proxy drops on purpose ends here with an error.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Takes the armed fault for this request, if it matches.
fn take_fault(armed: &Mutex<Armed>, method: &Method, path: &str) -> Option<(HttpFault, Requests)> {
    let mut armed = armed.lock().ok()?;
    let at = armed
        .next
        .iter()
        .position(|(_, requests, _)| requests.matches(method, path))?;
    let (fault, requests, left) = &mut armed.next[at];
    let taken = (*fault, *requests);
    *left -= 1;
    if *left == 0 {
        armed.next.remove(at);
    }
    Some(taken)
}

/// Records that `fault` was done to a request.
fn hit(armed: &Mutex<Armed>, fault: HttpFault, method: &Method, path: &str) {
    eprintln!("[faulty http] {fault:?} on {method} {path}");
    if let Ok(mut armed) = armed.lock() {
        armed
            .hits
            .push((fault, method.to_string(), path.to_owned()));
    }
}

/// Puts back a fault that could not be done (its request never landed), ahead of the others.
fn rearm(armed: &Mutex<Armed>, fault: HttpFault, requests: Requests) {
    if let Ok(mut armed) = armed.lock() {
        armed.next.insert(0, (fault, requests, 1));
    }
}

async fn handle(
    req: Request<Incoming>,
    upstream: String,
    armed: Arc<Mutex<Armed>>,
) -> Result<Response<Full<Bytes>>, BoxError> {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let taken = take_fault(&armed, &method, &path);
    let fault = taken.map(|(f, _)| f);
    let (parts, mut body) = req.into_parts();
    if fault == Some(HttpFault::FailMidUpload) {
        hit(&armed, HttpFault::FailMidUpload, &method, &path);
        // Some of the body arrives; the rest is never read.
        let _ = body.frame().await;
        return Ok(Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header("connection", "close")
            .header("content-type", "application/xml")
            .body(Full::new(Bytes::from_static(
                b"<Error><Code>ServiceUnavailable</Code><Message>injected mid-upload</Message></Error>",
            )))?);
    }
    let landed = async {
        let body = body.collect().await?.to_bytes();
        tokio::time::timeout(
            Duration::from_secs(120),
            forward(&upstream, Request::from_parts(parts, Full::new(body))),
        )
        .await?
    }
    .await;
    let answer = match (landed, taken) {
        (Ok(answer), Some((fault, _))) => {
            hit(&armed, fault, &method, &path);
            answer
        }
        (Ok(answer), None) => answer,
        (Err(e), Some((fault, requests))) => {
            rearm(&armed, fault, requests);
            return Err(e);
        }
        (Err(e), None) => return Err(e),
    };
    match fault {
        Some(HttpFault::LoseAnswer) => Err("the answer is lost on purpose".into()),
        Some(HttpFault::BadGatewayAfterLanding) => Ok(Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .header("connection", "close")
            .body(Full::new(Bytes::from_static(b"injected after landing")))?),
        _ => Ok(answer),
    }
}

/// Sends `req` to `upstream` on a fresh connection and reads the whole answer.
async fn forward(
    upstream: &str,
    req: Request<Full<Bytes>>,
) -> Result<Response<Full<Bytes>>, BoxError> {
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // Ends with this call, even one given up at the timeout on a dark upstream.
    let _connection = AbortOnDrop(tokio::spawn(connection));
    let answer = sender.send_request(req).await?;
    let (parts, body) = answer.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A server that answers every request `200` with the request's line, counting requests.
    fn counting_server() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                let text = read_request(&mut s);
                let line = text.lines().next().unwrap_or("").to_owned();
                log.lock().expect("log").push(line.clone());
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{line}",
                    line.len()
                );
            }
        });
        (address, seen)
    }

    /// The head of one request, after reading its whole body.
    fn read_request(s: &mut std::net::TcpStream) -> String {
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = s.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_string();
            let Some(end) = text.find("\r\n\r\n") else {
                continue;
            };
            let length: usize = text[..end]
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text[..end].to_owned();
            }
        }
        String::from_utf8_lossy(&got).to_string()
    }

    fn send(proxy: &str, method: &str, path: &str) -> Result<(u16, String), String> {
        let client = reqwest::blocking::Client::new();
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let answer = client
            .request(method, format!("http://{proxy}{path}"))
            .body(vec![7u8; 100_000])
            .send()
            .map_err(|e| e.to_string())?;
        let status = answer.status().as_u16();
        Ok((status, answer.text().map_err(|e| e.to_string())?))
    }

    #[test]
    fn passes_requests_and_fails_the_armed_ones() {
        let (upstream, seen) = counting_server();
        let proxy = FaultyHttp::to(&upstream);
        let at = proxy.address().to_owned();
        assert_eq!(
            send(&at, "GET", "/a").expect("passes"),
            (200, "GET /a HTTP/1.1".into())
        );

        proxy.arm(HttpFault::FailMidUpload, Requests::Uploads, 1);
        assert_eq!(send(&at, "GET", "/b").expect("not an upload").0, 200);
        let failed = send(&at, "PUT", "/c");
        assert!(
            matches!(failed, Ok((503, _)) | Err(_)),
            "an upload failed half-way: {failed:?}"
        );
        assert!(
            !seen.lock().expect("seen").iter().any(|l| l.contains("/c")),
            "it never reached the server"
        );
        assert_eq!(send(&at, "PUT", "/d").expect("disarmed after one").0, 200);

        let commit = "/v1/namespaces/ns/tables/t";
        proxy.arm(HttpFault::LoseAnswer, Requests::Commits, 1);
        assert_eq!(
            send(&at, "POST", "/v1/namespaces/ns/tables")
                .expect("a create")
                .0,
            200
        );
        assert!(send(&at, "POST", commit).is_err(), "the answer is lost");
        proxy.arm(HttpFault::BadGatewayAfterLanding, Requests::Commits, 1);
        assert_eq!(send(&at, "POST", commit).expect("an answer").0, 502);
        let landed = seen
            .lock()
            .expect("seen")
            .iter()
            .filter(|l| l.contains(commit))
            .count();
        assert_eq!(landed, 2, "both commits reached the server");
        assert_eq!(proxy.hits(HttpFault::FailMidUpload), 1);
        assert_eq!(proxy.hits(HttpFault::LoseAnswer), 1);
        assert_eq!(proxy.hits(HttpFault::BadGatewayAfterLanding), 1);
    }
}
