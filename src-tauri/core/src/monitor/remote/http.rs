//! GET with a deadline: the one way remote sources talk to a host. Blocking (the sampler is a plain thread),
//! rustls for HTTPS, and a global timeout on every request so a host that never answers costs one timeout per
//! reading, not a hung sampler. Failures come back as words for the host's `reason`, never with credentials.

use std::time::Duration;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use super::RemoteAuth;

/// The most a response may be: a Prometheus answer for hundreds of GPUs is well under 1 MiB.
const BODY_LIMIT: u64 = 16 << 20;

pub struct HttpClient {
    agent: ureq::Agent,
    authorization: Option<String>,
}

impl HttpClient {
    /// A client for `auth`, giving up after `timeout`; HTTPS is checked against `ca_pem`'s certificates when
    /// given (already checked by [`check_ca_pem`]), else against the public roots.
    pub fn new(auth: &RemoteAuth, timeout: Duration, ca_pem: Option<&[u8]>) -> Self {
        let roots = match ca_pem.map(certificates) {
            Some(Ok(certs)) => RootCerts::from(certs),
            _ => RootCerts::WebPki,
        };
        let agent = ureq::Agent::config_builder()
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .timeout_global(Some(timeout))
            // A 401 or 503 is an answer whose status is the reason: read it rather than treat it as a transport error.
            .http_status_as_error(false)
            .user_agent(concat!("headroom/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        let authorization = match auth {
            RemoteAuth::None => None,
            RemoteAuth::Bearer(token) => Some(format!("Bearer {}", token.expose())),
            RemoteAuth::Basic { user, password } => Some(format!(
                "Basic {}",
                base64(format!("{user}:{}", password.expose()).as_bytes())
            )),
        };
        HttpClient {
            agent,
            authorization,
        }
    }

    /// The body of a 2xx answer, or why there is none in words ("timed out after 2 s", "HTTP 401 Unauthorized").
    pub fn get(&self, url: &str) -> Result<String, String> {
        let mut request = self.agent.get(url);
        if let Some(a) = &self.authorization {
            request = request.header("Authorization", a);
        }
        let mut response = request.call().map_err(|e| transport_words(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_string());
        }
        response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_string()
            .map_err(|e| format!("could not read the answer: {}", transport_words(&e)))
    }
}

/// Every certificate of a PEM file.
fn certificates(pem: &[u8]) -> Result<Vec<Certificate<'static>>, String> {
    let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e.to_string())),
        })
        .collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

/// `Ok` when `pem` holds at least one readable certificate; why not otherwise.
pub fn check_ca_pem(pem: &[u8]) -> Result<(), String> {
    certificates(pem).map(|_| ())
}

fn transport_words(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".into()
        }
        other => other.to_string(),
    }
}

/// Standard base64 with padding (RFC 4648 §4), for the Basic scheme (RFC 7617).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Percent-encodes a query parameter value (RFC 3986 unreserved characters pass through).
pub fn encode_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_test_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
        // RFC 7617 §2's example.
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode_query("up{a=\"b\"} ~x"), "up%7Ba%3D%22b%22%7D%20~x");
    }
}
