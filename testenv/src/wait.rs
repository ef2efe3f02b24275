//! Waiting for a program to become ready, failing early (with its log) when it dies.

use std::future::Future;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::process::{Program, tail};
use crate::{Error, Result};

/// Polls `check` every 200 ms until it returns `Ok(true)`, `program` exits, or `timeout` passes.
/// The last error `check` returned is kept for the timeout message.
pub async fn until<F, Fut>(
    what: &str,
    program: &mut Program,
    timeout: Duration,
    mut check: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<bool, String>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = String::from("not ready yet");
    loop {
        program.check_running()?;
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = e,
        }
        if Instant::now() >= deadline {
            return Err(Error::NotReady {
                what: what.to_owned(),
                after: timeout,
                last,
                log: program.log.clone(),
                tail: tail(&program.log, 30),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A plain-HTTP GET on loopback (etcd's `/health`), returning the body.
pub fn http_get(port: u16, path: &str) -> std::result::Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default())
}

/// The status code of a plain-HTTP GET on loopback.
pub fn http_status(port: u16, path: &str) -> std::result::Result<u16, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {response:.80}"))
}

/// Whether something accepts TCP connections on a loopback port.
pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_ok()
}
