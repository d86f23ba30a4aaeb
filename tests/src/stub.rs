//! A tiny HTTP server on 127.0.0.1 that gives every request the same canned
//! answer (a redirect, say) and keeps what it was sent, for tests of what
//! gate lets a policy reach.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Request heads a stub keeps at most; past them it stops answering.
const MAX_REQUESTS: usize = 64;
/// Bytes of one request head it reads at most.
const MAX_HEAD: usize = 64 << 10;

/// A server answering every request with one status and set of headers;
/// stops on drop.
pub struct Stub {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Stub {
    /// Starts answering `status` with `headers` (and an empty body).
    pub fn start(status: u16, headers: &[(&str, &str)]) -> Stub {
        Stub::with_body(status, headers, &[])
    }

    /// Starts answering `status` with `headers` and `body`.
    pub fn with_body(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Stub {
        Stub::answering(vec![canned(status, headers, body)])
    }

    /// Answers the nth request with the nth status (and an empty body),
    /// and every request past the list with its last: a stage that comes
    /// up after a few requests.
    pub fn sequence(statuses: &[u16]) -> Stub {
        assert!(!statuses.is_empty(), "a stub needs an answer");
        Stub::answering(statuses.iter().map(|s| canned(*s, &[], &[])).collect())
    }

    fn answering(answers: Vec<Vec<u8>>) -> Stub {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a stub");
        listener.set_nonblocking(true).expect("non-blocking stub");
        let addr = listener.local_addr().expect("stub address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || serve(&listener, &answers, &requests, &stop))
        };
        Stub {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The heads (request line and headers) of the requests received so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A whole answer: `status` with `headers` and `body`, closing the
/// connection.
fn canned(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} Canned\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    [head.as_bytes(), body].concat()
}

fn serve(
    listener: &TcpListener,
    answers: &[Vec<u8>],
    requests: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) if requests.lock().unwrap().len() < MAX_REQUESTS => {
                let seen = requests.lock().unwrap().len();
                answer_one(stream, &answers[seen.min(answers.len() - 1)], requests);
            }
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Reads one request head, keeps it, then answers. Kept before answering:
/// the client may act on the answer (gate exits, the test reads
/// `requests()`) before this thread runs again.
fn answer_one(mut stream: TcpStream, answer: &[u8], requests: &Mutex<Vec<String>>) -> Option<()> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    requests
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&head).into_owned());
    stream.write_all(answer).ok()
}
