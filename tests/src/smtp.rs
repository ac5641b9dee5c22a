//! A local SMTP sink for the email alert tests: speaks enough of RFC 5321
//! (EHLO, AUTH PLAIN and LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) on
//! 127.0.0.1 to take a message, and keeps what it was sent: the envelope,
//! the login and the message text. No TLS: it is only ever reached on
//! loopback, where the host sends plain text unless told otherwise.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One message the sink accepted.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses, in order.
    pub to: Vec<String>,
    /// The decoded `AUTH` login (user, password), if the client logged in.
    pub login: Option<(String, String)>,
    /// The message as sent (headers and body), dot-unstuffed.
    pub data: String,
}

/// The sink: a listener thread and what it received.
pub struct SmtpSink {
    addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    /// Starts on a free port of 127.0.0.1.
    pub fn start() -> std::io::Result<SmtpSink> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let mails = Arc::new(Mutex::new(Vec::new()));
        let m = mails.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let m = m.clone();
                std::thread::spawn(move || {
                    let _ = session(conn, &m);
                });
            }
        });
        Ok(SmtpSink { addr, mails })
    }

    /// An `smtp://` URL for this sink with the given login.
    pub fn url(&self, user: &str, password: &str) -> String {
        format!("smtp://{user}:{password}@{}", self.addr)
    }

    /// Every message accepted so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn b64(text: &str) -> String {
    // Decoding only; a small table beats a dependency.
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.trim().bytes().filter(|c| *c != b'=') {
        let Some(v) = ABC.iter().position(|a| *a == c) else { continue };
        bits = (bits << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn session(conn: TcpStream, mails: &Mutex<Vec<Mail>>) -> std::io::Result<()> {
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let say = |w: &mut TcpStream, s: &str| w.write_all(format!("{s}\r\n").as_bytes());
    say(&mut w, "220 sink ESMTP ready")?;
    let mut mail = Mail::default();
    let mut line = String::new();
    let read = |r: &mut BufReader<TcpStream>, line: &mut String| {
        line.clear();
        r.read_line(line).map(|n| n > 0)
    };
    while read(&mut r, &mut line)? {
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            w.write_all(b"250-sink\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")?;
        } else if let Some(rest) = upper.strip_prefix("AUTH PLAIN") {
            let arg = if rest.trim().is_empty() {
                say(&mut w, "334 ")?;
                read(&mut r, &mut line)?;
                line.trim().to_string()
            } else {
                cmd[10..].trim().to_string()
            };
            let parts: Vec<String> = b64(&arg).split('\0').map(str::to_string).collect();
            if let [_, user, pass] = parts.as_slice() {
                mail.login = Some((user.clone(), pass.clone()));
            }
            say(&mut w, "235 2.7.0 accepted")?;
        } else if upper.starts_with("AUTH LOGIN") {
            say(&mut w, "334 VXNlcm5hbWU6")?;
            read(&mut r, &mut line)?;
            let user = b64(&line);
            say(&mut w, "334 UGFzc3dvcmQ6")?;
            read(&mut r, &mut line)?;
            mail.login = Some((user, b64(&line)));
            say(&mut w, "235 2.7.0 accepted")?;
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = addr(&cmd[10..]);
            say(&mut w, "250 ok")?;
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(addr(&cmd[8..]));
            say(&mut w, "250 ok")?;
        } else if upper == "DATA" {
            say(&mut w, "354 end with <CRLF>.<CRLF>")?;
            let mut data = String::new();
            while read(&mut r, &mut line)? {
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            mail.data = data;
            mails.lock().unwrap_or_else(|p| p.into_inner()).push(mail.clone());
            let login = mail.login.take();
            mail = Mail { login, ..Mail::default() };
            say(&mut w, "250 queued")?;
        } else if upper == "QUIT" {
            say(&mut w, "221 bye")?;
            break;
        } else if upper == "RSET" || upper == "NOOP" {
            say(&mut w, "250 ok")?;
        } else {
            say(&mut w, "502 not implemented")?;
        }
    }
    Ok(())
}

/// `<a@b>` (with parameters after it) → `a@b`.
fn addr(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(a), Some(b)) if a < b => arg[a + 1..b].to_string(),
        _ => arg.split_whitespace().next().unwrap_or("").to_string(),
    }
}
