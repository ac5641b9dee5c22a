//! A local webhook receiver for the alert tests.

use std::io::BufReader;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::wire::{read_request, write_answer, Answer};

/// A local webhook receiver for the alert tests: answers each POST with the
/// next scripted status (then 204) and keeps what it was sent.
pub struct WebhookSink {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    script: Arc<Mutex<std::collections::VecDeque<(u16, String)>>>,
}

impl WebhookSink {
    /// Starts on a free port.
    pub fn start() -> std::io::Result<WebhookSink> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        let (r, s) = (received.clone(), script.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let Ok(write_half) = conn.try_clone() else { continue };
                let mut reader = BufReader::new(conn);
                let Some(req) = read_request(&mut reader) else { continue };
                let (status, body) = s
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .pop_front()
                    .unwrap_or((204, String::new()));
                if status < 300 {
                    let json = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                    r.lock().unwrap_or_else(|p| p.into_inner()).push((req.target.clone(), json));
                }
                write_answer(write_half, Answer::json(status, body));
            }
        });
        Ok(WebhookSink { addr, received, script })
    }

    /// A URL on this sink.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next answers, in order (e.g. a 429, or a 500).
    pub fn script(&self, answers: &[(u16, &str)]) {
        let mut s = self.script.lock().unwrap_or_else(|p| p.into_inner());
        s.extend(answers.iter().map(|(c, b)| (*c, b.to_string())));
    }

    /// The (path, JSON body) of every accepted POST so far.
    pub fn received(&self) -> Vec<(String, serde_json::Value)> {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
