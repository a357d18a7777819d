//! A minimal HTTP/1.1 keep-alive client: writes a pre-built request and reads the
//! response head plus its `Content-Length` (or chunked) body. Cheap enough that the
//! load generator stays a small share of the machine.

use std::net::SocketAddr;

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

/// Where the body of the last response sits in the connection's buffer.
pub struct Response<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

impl Response<'_> {
    /// The envelope's success: `{"code":0,...}`.
    pub fn is_ok_envelope(&self) -> bool {
        self.status == 200 && self.body.starts_with(b"{\"code\":0,")
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(300)]).into_owned()
    }

    /// Fails with the status and the start of the body unless the envelope says success.
    pub fn ensure_ok(&self) -> Result<()> {
        if self.is_ok_envelope() {
            Ok(())
        } else {
            Err(anyhow!("HTTP {} {}", self.status, self.body_str()))
        }
    }
}

enum Framing {
    Length(usize),
    Chunked,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Conn {
            addr,
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    async fn connect(&mut self) -> Result<()> {
        let s = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connect {}", self.addr))?;
        s.set_nodelay(true)?;
        self.stream = Some(s);
        Ok(())
    }

    /// Sends `req` and reads one response. A kept-alive connection the server closed
    /// meanwhile is reopened once (nothing of the response had arrived, so the request
    /// was not processed).
    pub async fn request(&mut self, req: &[u8]) -> Result<Response<'_>> {
        let reused = self.stream.is_some();
        if !reused {
            self.connect().await?;
        }
        let (status, start, end, close) = match self.exchange(req).await {
            Ok(v) => v,
            Err(Retry::Fresh(e)) if reused => {
                self.stream = None;
                self.connect()
                    .await
                    .map_err(|c| c.context(format!("reconnecting after: {e}")))?;
                match self.exchange(req).await {
                    Ok(v) => v,
                    Err(Retry::Fresh(e) | Retry::Fatal(e)) => {
                        self.stream = None;
                        return Err(e);
                    }
                }
            }
            Err(Retry::Fresh(e) | Retry::Fatal(e)) => {
                self.stream = None;
                return Err(e);
            }
        };
        if close {
            self.stream = None;
        }
        Ok(Response {
            status,
            body: &self.buf[start..end],
        })
    }

    /// Returns (status, body start, body end, connection closes).
    async fn exchange(&mut self, req: &[u8]) -> Result<(u16, usize, usize, bool), Retry> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Retry::Fatal(anyhow!("not connected")));
        };
        if let Err(e) = stream.write_all(req).await {
            return Err(Retry::Fresh(e.into()));
        }
        self.buf.clear();
        // Head.
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            let n = read_more(stream, &mut self.buf)
                .await
                .map_err(Retry::Fatal)?;
            if n == 0 {
                return Err(if self.buf.is_empty() {
                    Retry::Fresh(anyhow!("connection closed before the response"))
                } else {
                    Retry::Fatal(anyhow!("connection closed inside the response head"))
                });
            }
        };
        let (status, framing, close) = parse_head(&self.buf[..head_end]).map_err(Retry::Fatal)?;
        match framing {
            Framing::Length(len) => {
                while self.buf.len() < head_end + len {
                    let n = read_more(stream, &mut self.buf)
                        .await
                        .map_err(Retry::Fatal)?;
                    if n == 0 {
                        return Err(Retry::Fatal(anyhow!("connection closed inside the body")));
                    }
                }
                Ok((status, head_end, head_end + len, close))
            }
            Framing::Chunked => {
                // Decode in place: chunk payloads are moved down to follow the head.
                let mut out = head_end;
                let mut pos = head_end;
                loop {
                    let line_end = loop {
                        if let Some(i) = find(&self.buf[pos..], b"\r\n") {
                            break pos + i;
                        }
                        let n = read_more(stream, &mut self.buf)
                            .await
                            .map_err(Retry::Fatal)?;
                        if n == 0 {
                            return Err(Retry::Fatal(anyhow!("closed inside a chunk")));
                        }
                    };
                    let size_txt = std::str::from_utf8(&self.buf[pos..line_end])
                        .map_err(|e| Retry::Fatal(e.into()))?;
                    let size_txt = size_txt.split(';').next().unwrap_or("").trim();
                    let size = usize::from_str_radix(size_txt, 16)
                        .map_err(|e| Retry::Fatal(anyhow!("bad chunk size {size_txt:?}: {e}")))?;
                    let data_start = line_end + 2;
                    while self.buf.len() < data_start + size + 2 {
                        let n = read_more(stream, &mut self.buf)
                            .await
                            .map_err(Retry::Fatal)?;
                        if n == 0 {
                            return Err(Retry::Fatal(anyhow!("closed inside a chunk")));
                        }
                    }
                    if size == 0 {
                        // No trailers are expected from the server.
                        return Ok((status, head_end, out, close));
                    }
                    self.buf.copy_within(data_start..data_start + size, out);
                    out += size;
                    pos = data_start + size + 2;
                }
            }
        }
    }
}

enum Retry {
    /// Nothing arrived: the request may be sent again on a new connection.
    Fresh(anyhow::Error),
    Fatal(anyhow::Error),
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    Ok(stream.read_buf(buf).await?)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> Result<(u16, Framing, bool)> {
    let text = std::str::from_utf8(head).context("response head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let mut framing = None;
    let mut close = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            framing = Some(Framing::Length(value.parse().context("content-length")?));
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            framing = Some(Framing::Chunked);
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            close = true;
        }
    }
    match framing {
        Some(f) => Ok((status, f, close)),
        None if status == 204 || status == 304 => Ok((status, Framing::Length(0), close)),
        None => bail!("response without content-length or chunked body (status {status})"),
    }
}

/// Pre-built request bytes.
pub fn get(addr: SocketAddr, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes()
}

/// A form-encoded POST, optionally authenticated with the `token` header.
/// Adds a header line after the request line.
pub fn with_header(req: Vec<u8>, name: &str, value: &str) -> Vec<u8> {
    let Some(eol) = req.windows(2).position(|w| w == b"\r\n") else {
        return req;
    };
    let mut out = req[..eol + 2].to_vec();
    out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    out.extend_from_slice(&req[eol + 2..]);
    out
}

pub fn post_form(addr: SocketAddr, path: &str, token: Option<&str>, body: &str) -> Vec<u8> {
    let auth = token.map(|t| format!("token: {t}\r\n")).unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let (s, f, c) =
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\nconnection: close\r\n\r\n")
                .unwrap();
        assert_eq!(s, 200);
        assert!(matches!(f, Framing::Length(12)));
        assert!(c);
        let (_, f, c) =
            parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert!(matches!(f, Framing::Chunked));
        assert!(!c);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    #[tokio::test]
    async fn reads_length_and_chunked_bodies_over_keep_alive() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"code\":0,}")
                .await
                .unwrap();
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n")
                .await
                .unwrap();
        });
        let mut c = Conn::new(addr);
        let req = get(addr, "/healthz");
        let r = c.request(&req).await.unwrap();
        assert!(r.is_ok_envelope());
        let r = c.request(&req).await.unwrap();
        assert_eq!(r.body, b"abcdefg");
    }
}
