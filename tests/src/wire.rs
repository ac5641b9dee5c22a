//! The HTTP/1.1 the simulator speaks: one request in, one answer out, and
//! the query strings both providers' clients send.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A finished answer.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) headers: Vec<(String, String)>,
    /// Send the head and half the body, then hang up after a while.
    pub(crate) stall: bool,
}

impl Answer {
    pub(crate) fn json(status: u16, body: String) -> Answer {
        Answer {
            status,
            body,
            headers: vec![("Content-Type".into(), "application/json".into())],
            stall: false,
        }
    }
}
/// A parsed request: target, headers (lowercase names) and body.
pub struct Request {
    /// Path and query.
    pub target: String,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

pub(crate) fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let _method = parts.next()?;
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                length = v.trim().parse().unwrap_or(0);
            }
            headers.push((k, v.trim().to_string()));
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    std::io::Read::read_exact(reader, &mut body).ok()?;
    Some(Request { target, headers, body })
}

/// Writes a whole HTTP/1.1 answer and closes.
pub(crate) fn write_answer(mut out: TcpStream, answer: Answer) {
    let reason = match answer.status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", answer.status);
    for (k, v) in &answer.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", answer.body.len()));
    if answer.stall {
        let half = &answer.body.as_bytes()[..answer.body.len() / 2];
        let _ = out.write_all(head.as_bytes()).and_then(|_| out.write_all(half));
        let _ = out.flush();
        // Long enough for any client timeout in the tests; bounded so the
        // thread always ends.
        std::thread::sleep(Duration::from_secs(20));
        return;
    }
    let _ = out.write_all(head.as_bytes()).and_then(|_| out.write_all(answer.body.as_bytes()));
    let _ = out.flush();
}
pub(crate) type Fail = (u16, &'static str, String);

pub(crate) fn bad(msg: impl Into<String>) -> Fail {
    (400, "invalid_request_error", msg.into())
}

/// Decodes `a=1&group_by[]=x&group_by=y` (percent-decoding, `+` as space).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Both array forms: `group_by=a` and `group_by[]=a`.
pub(crate) fn array(params: &[(String, String)], name: &str) -> Vec<String> {
    let bracket = format!("{name}[]");
    params.iter().filter(|(k, _)| *k == name || *k == bracket).map(|(_, v)| v.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_both_array_forms() {
        let p = parse_query("group_by=a&group_by%5B%5D=b&group_by[]=c&t=2025-01-01T00%3A00%3A00Z");
        assert_eq!(array(&p, "group_by"), vec!["a", "b", "c"]);
        assert_eq!(param(&p, "t"), Some("2025-01-01T00:00:00Z"));
    }
}
