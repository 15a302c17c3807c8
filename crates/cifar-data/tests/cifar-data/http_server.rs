//! A small HTTP server on 127.0.0.1 for the download tests: each path answers with a
//! body, an HTTP error, or a body shorter than its announced length.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use md5::{Digest, Md5};

/// What the server answers for a path.
#[derive(Clone)]
pub(crate) enum Reply {
    Body(Vec<u8>),
    Status(u16),
    /// Announces `declared` bytes, sends `body`, closes.
    Short {
        body: Vec<u8>,
        declared: usize,
    },
}

pub(crate) struct Server {
    /// `http://127.0.0.1:PORT/files/`, where the routes are served.
    pub(crate) base: String,
    /// Requests answered so far.
    pub(crate) hits: Arc<AtomicUsize>,
}

/// Serves `routes` on 127.0.0.1 (an ephemeral port) from a thread that stops after 64
/// connections at most (it dies with the test process otherwise).
pub(crate) fn serve(routes: HashMap<String, Reply>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/files/", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            let name = path.trim_start_matches("/files/");
            let reply = routes.get(name).cloned().unwrap_or(Reply::Status(404));
            let (status, body, declared) = match reply {
                Reply::Body(b) => (200, b.clone(), b.len()),
                Reply::Status(s) => (s, b"error".to_vec(), 5),
                Reply::Short { body, declared } => (200, body, declared),
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {declared}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.flush();
        }
    });
    Server { base, hits }
}

/// The MD5 of `bytes` in lower-case hex, as the download lists give checksums.
pub(crate) fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
