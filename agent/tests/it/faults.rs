//! A loopback HTTP proxy that breaks requests on purpose: it answers some with
//! `500 InternalError`, drops some connections before forwarding, and loses the response of
//! some after forwarding ([`start`], a share of requests by seeded dice), or does to each
//! request what a test decides from its method and target ([`start_with`]), including storing
//! a request and never answering, and answering an upload with `400 BadDigest`. Every
//! connection carries one request (`Connection: close`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// Counts of what the proxy did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Faults {
    pub forwarded: usize,
    pub errors_500: usize,
    pub dropped: usize,
    pub lost_responses: usize,
}

pub struct FaultProxy {
    pub url: String,
    pub faults: Arc<Mutex<Faults>>,
    /// Every request seen, as `METHOD target`.
    pub requests: Arc<Mutex<Vec<String>>>,
}

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Forward,
    Error500,
    /// The connection is closed before forwarding.
    Drop,
    /// Forwarded, and the response thrown away.
    Lose,
    /// Forwarded (the server stores it), and the connection held open without an answer.
    Hang,
    /// Answered `400 BadDigest` without forwarding.
    BadDigest,
}

/// Starts the proxy in front of `upstream` (`host:port`). Shares are percentages.
pub fn start(upstream: &str, seed: u64, error_pct: u64, drop_pct: u64, lose_pct: u64) -> FaultProxy {
    let rng = Mutex::new(seed | 1);
    start_with(upstream, move |_| {
        let roll = {
            let mut x = rng.lock().unwrap();
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            *x % 100
        };
        match roll {
            r if r < error_pct => Fault::Error500,
            r if r < error_pct + drop_pct => Fault::Drop,
            r if r < error_pct + drop_pct + lose_pct => Fault::Lose,
            _ => Fault::Forward,
        }
    })
}

/// Starts the proxy in front of `upstream`; `decide` gets each request as `METHOD target`.
pub fn start_with(upstream: &str, decide: impl Fn(&str) -> Fault + Send + Sync + 'static) -> FaultProxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let faults = Arc::new(Mutex::new(Faults::default()));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let upstream = upstream.to_string();
    let counts = faults.clone();
    let seen = requests.clone();
    let decide = Arc::new(decide);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (upstream, counts, seen, decide) =
                (upstream.clone(), counts.clone(), seen.clone(), decide.clone());
            std::thread::spawn(move || {
                let _ = serve(conn, &upstream, &*decide, &counts, &seen);
            });
        }
    });
    FaultProxy { url, faults, requests }
}

fn serve(
    client: TcpStream,
    upstream: &str,
    decide: &dyn Fn(&str) -> Fault,
    counts: &Mutex<Faults>,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let mut head = Vec::new();
    let mut length = 0usize;
    let mut chunked = false;
    let mut request_line = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if lower.starts_with("expect:") {
            client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        if request_line.is_empty() {
            request_line = line.split(' ').take(2).collect::<Vec<_>>().join(" ");
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            body.extend_from_slice(size_line.as_bytes());
            let size =
                usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk);
            if size == 0 {
                break;
            }
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    seen.lock().unwrap().push(request_line.clone());
    let fault = decide(&request_line);
    if fault == Fault::BadDigest {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>BadDigest</Code><Message>The Content-MD5 you specified did not match what we received.</Message></Error>";
        write!(
            client,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        )?;
        return Ok(());
    }
    if fault == Fault::Error500 {
        counts.lock().unwrap().errors_500 += 1;
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error>";
        write!(
            client,
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        )?;
        return Ok(());
    }
    if fault == Fault::Drop {
        counts.lock().unwrap().dropped += 1;
        return Ok(());
    }
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(&head)?;
    up.write_all(&body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    if fault == Fault::Lose {
        counts.lock().unwrap().lost_responses += 1;
        return Ok(());
    }
    if fault == Fault::Hang {
        // Stored upstream; the client waits for an answer that never comes.
        std::thread::sleep(std::time::Duration::from_secs(3600));
        return Ok(());
    }
    counts.lock().unwrap().forwarded += 1;
    client.write_all(&response)?;
    Ok(())
}
