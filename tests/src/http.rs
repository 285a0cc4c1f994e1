//! Plain HTTP GETs of the admin and metrics endpoints floe serves, and reading a Prometheus
//! exposition.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::StatusCode;

/// One client for every request: callers poll, so each request is bounded (2 s to connect, 5 s
/// in all); no proxy from the environment and no kept-alive connection, so each GET reaches the
/// process listening on `addr` now.
fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(0)
            .no_proxy()
            .build()
            .expect("HTTP client")
    })
}

/// The body of `GET http://{addr}{path}` when it answers 200, else `None` (also when it cannot
/// be reached or does not answer in time).
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    let response = client().get(format!("http://{addr}{path}")).send().ok()?;
    if response.status() != StatusCode::OK {
        return None;
    }
    response.text().ok()
}

/// The value of the sample `name{labels}` in a Prometheus text exposition.
pub fn metric_value(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(sample)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::time::Instant;

    use super::*;

    /// A one-connection server on loopback that reads the request head and answers `response`
    /// (or nothing, holding the connection open, when `None`).
    fn serve_once(response: Option<&'static str>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            match response {
                Some(r) => (&stream).write_all(r.as_bytes()).expect("write"),
                None => std::thread::sleep(Duration::from_secs(8)),
            }
        });
        addr
    }

    #[test]
    fn a_200_gives_the_body_anything_else_none() {
        let ok = serve_once(Some(
            "HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n",
        ));
        assert_eq!(http_get(&ok, "/healthz").as_deref(), Some("ok\n"));
        let missing = serve_once(Some(
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        ));
        assert_eq!(http_get(&missing, "/nothing"), None);
        let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = closed.local_addr().expect("addr").to_string();
        drop(closed);
        assert_eq!(http_get(&addr, "/metrics"), None);
    }

    #[test]
    fn a_silent_server_times_out() {
        let silent = serve_once(None);
        let start = Instant::now();
        assert_eq!(http_get(&silent, "/metrics"), None);
        assert!(
            start.elapsed() < Duration::from_secs(7),
            "{:?}",
            start.elapsed()
        );
    }
}
