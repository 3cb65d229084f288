//! Serving the latest reading at `/metrics` for Prometheus (`headroom-cli monitor --serve ADDR`, or the app's
//! opt-in). One small blocking server on its own thread; the sampler's owner [`publish`](Exporter::publish)es each
//! reading and a scrape renders the latest one, so an idle exporter costs nothing per tick.
//!
//! Loopback unless an address says otherwise; a bearer token, when set, is required on every request and
//! compared in constant time. The token is never logged or written anywhere.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tiny_http::{Header, Request, Response, Server};

use super::metrics::{render, RenderOptions};
use super::remote::Secret;
use super::sampler::Tick;
use crate::message::{Key, Message};
use crate::{Error, Result};

/// The port Headroom listens on unless told otherwise: DCGM-exporter has 9400, node_exporter 9100.
pub const DEFAULT_PORT: u16 = 9464;

#[derive(Debug, Clone)]
pub struct ExporterConfig {
    pub addr: SocketAddr,
    /// Required as `Authorization: Bearer TOKEN` when set.
    pub token: Option<Secret>,
    pub render: RenderOptions,
}

impl ExporterConfig {
    /// `127.0.0.1:9464`, no token.
    pub fn loopback(render: RenderOptions) -> Self {
        ExporterConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            token: None,
            render,
        }
    }
}

/// Parses `--serve`'s address: `HOST:PORT`, or a bare port on loopback.
pub fn parse_addr(text: &str) -> Result<SocketAddr> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        Error::invalid_msg(
            "serve",
            Message::new(Key::InvalidExporterNotAddressLike127)
                .text("text", text.to_string())
                .text("port", DEFAULT_PORT.to_string()),
        )
    })
}

type Latest = Arc<Mutex<Option<Tick>>>;

pub struct Exporter {
    server: Arc<Server>,
    latest: Latest,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    /// Binds and starts serving; an address in use or not allowed is an error naming `serve`.
    pub fn start(config: ExporterConfig) -> Result<Self> {
        let cannot = |e: &dyn std::fmt::Display| {
            Error::invalid_msg(
                "serve",
                Message::new(Key::InvalidExporterCannotListen)
                    .text("addr", config.addr.to_string())
                    .text("e", e.to_string()),
            )
        };
        let listener = TcpListener::bind(config.addr).map_err(|e| cannot(&e))?;
        no_delay(&listener);
        let server = Server::from_listener(listener, None).map_err(|e| cannot(&e))?;
        let addr = server.server_addr().to_ip().ok_or_else(|| {
            Error::invalid_msg("serve", Message::new(Key::InvalidExporterNotIpAddress))
        })?;
        let server = Arc::new(server);
        let latest: Latest = Arc::default();
        let thread = {
            let (server, latest) = (server.clone(), latest.clone());
            std::thread::Builder::new()
                .name("headroom-exporter".into())
                .spawn(move || {
                    for request in server.incoming_requests() {
                        respond(request, &config, &latest);
                    }
                })
                .map_err(|e| {
                    Error::invalid_msg(
                        "serve",
                        Message::new(Key::InvalidExporterCannotStartExporterS)
                            .text("e", e.to_string()),
                    )
                })?
        };
        Ok(Exporter {
            server,
            latest,
            addr,
            thread: Some(thread),
        })
    }

    /// Where it listens (the port the system chose, for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Makes `tick` the reading the next scrape sees.
    pub fn publish(&self, tick: &Tick) {
        if let Ok(mut latest) = self.latest.lock() {
            *latest = Some(tick.clone());
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sets TCP_NODELAY on the listener, which Linux passes on to every accepted connection: without it the page's
/// last segment waits for the scraper's delayed ACK (Nagle's algorithm), and every scrape takes 40 ms more.
/// Best effort: a scrape is slower without it, not wrong.
fn no_delay(listener: &TcpListener) {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket fd we own, and an int option of the size given.
    unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn respond(request: Request, config: &ExporterConfig, latest: &Latest) {
    let refused = config
        .token
        .as_ref()
        .is_some_and(|token| !authorized(&request, token));
    let (status, body, extra): (u16, String, Option<Header>) = if refused {
        (
            401,
            "a bearer token is required\n".into(),
            Header::from_bytes("WWW-Authenticate", "Bearer").ok(),
        )
    } else if request.url() != "/metrics" && !request.url().starts_with("/metrics?") {
        (404, "Headroom serves /metrics\n".into(), None)
    } else if *request.method() != tiny_http::Method::Get {
        (405, "GET only\n".into(), None)
    } else {
        match latest
            .lock()
            .ok()
            .and_then(|l| l.as_ref().map(|t| render(t, &config.render)))
        {
            Some(text) => (200, text, None),
            // Before the first reading: an error, so Prometheus marks the target down instead of recording
            // nothing as if the host had no GPU.
            None => (503, "no reading yet\n".into(), None),
        }
    };
    let mut response = Response::from_string(body).with_status_code(status);
    if let Ok(h) = Header::from_bytes("Content-Type", "text/plain; version=0.0.4; charset=utf-8") {
        response.add_header(h);
    }
    if let Some(h) = extra {
        response.add_header(h);
    }
    // A client that hung up is its own business.
    let _ = request.respond(response);
}

fn authorized(request: &Request, token: &Secret) -> bool {
    request
        .headers()
        .iter()
        .filter(|h| h.field.equiv("Authorization"))
        .any(|h| {
            h.value
                .as_str()
                .strip_prefix("Bearer ")
                .is_some_and(|given| {
                    constant_time_eq(given.trim().as_bytes(), token.expose().as_bytes())
                })
        })
}

/// Equal bytes, in a time that depends on the lengths only: a wrong token's first wrong byte is not revealed by
/// how fast it was refused.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_ports() {
        assert_eq!(
            parse_addr("9464").unwrap(),
            "127.0.0.1:9464".parse().unwrap()
        );
        assert_eq!(
            parse_addr("0.0.0.0:1234").unwrap(),
            "0.0.0.0:1234".parse().unwrap()
        );
        assert_eq!(parse_addr("[::1]:9").unwrap(), "[::1]:9".parse().unwrap());
        for bad in ["", "localhost:9464", "1.2.3.4", "99999"] {
            assert!(
                parse_addr(bad)
                    .unwrap_err()
                    .to_string()
                    .starts_with("serve:"),
                "{bad}"
            );
        }
    }

    #[test]
    fn token_compare() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
