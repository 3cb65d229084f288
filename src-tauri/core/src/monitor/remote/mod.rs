//! Remote sources: GPUs of other hosts read over HTTP from the monitoring systems that already watch them, not
//! from a protocol of our own (docs/monitoring.md).
//!
//! - `prometheus:URL` — a Prometheus server's query API: every host it scrapes that exports Headroom's or
//!   DCGM-exporter's GPU metrics, in one request per reading.
//! - `dcgm:URL[,URL…]` — DCGM-exporter endpoints (`/metrics`), one host each.
//! - `headroom:URL[,URL…]` — other Headroom exporters (`headroom-cli monitor --serve`), one host each.
//!
//! Credentials never travel in what is shown or stored: the URL a snapshot names has its user and password
//! stripped, and [`Secret`] prints as `***`.

pub mod assemble;
pub mod http;
pub mod prom_api;
pub mod source;

use crate::message::{Key, Message};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Error, Result};

pub use source::RemoteSource;

/// A token or password: compared and sent, never printed (its `Debug` is `***`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Trims the newline a token file usually ends with; an empty secret is an error naming `field`.
    pub fn new(field: &str, text: &str) -> Result<Self> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::invalid_msg(
                field,
                Message::new(Key::InvalidSourceEmpty),
            ));
        }
        Ok(Secret(text.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How to authenticate to every endpoint of a source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RemoteAuth {
    #[default]
    None,
    Bearer(Secret),
    Basic {
        user: String,
        password: Secret,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteKind {
    Prometheus,
    Dcgm,
    Headroom,
}

impl RemoteKind {
    pub fn prefix(self) -> &'static str {
        match self {
            RemoteKind::Prometheus => "prometheus",
            RemoteKind::Dcgm => "dcgm",
            RemoteKind::Headroom => "headroom",
        }
    }
}

/// One URL of a source, credentials stripped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://host:port/path`, no user or password: what labels and logs show.
    pub url: String,
    /// `host:port`: the host's name until it says its own.
    pub authority: String,
}

/// A parsed `prometheus:URL`, `dcgm:URL,…` or `headroom:URL,…`.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSpec {
    pub kind: RemoteKind,
    pub endpoints: Vec<Endpoint>,
    /// Credentials: from a URL's `user:password@` here, or set by the caller from a file or the environment
    /// ([`RemoteSpec::user`] names a user that came without a password).
    pub auth: RemoteAuth,
    /// A `user@` without a password, waiting for one from a file or the environment.
    pub user: Option<String>,
    /// Every request gives up after this long; an endpoint that does not answer is reported unreachable.
    pub timeout: Duration,
    /// PEM certificates to trust for HTTPS instead of the public roots (a cluster's own CA), when given.
    pub ca_pem: Option<Vec<u8>>,
}

/// How long one request may take by default: well under the 1 s reading interval's worst case of a few hosts
/// answering slowly, long enough for a Prometheus across a WAN.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

impl RemoteSpec {
    /// Parses the part after `prometheus:`, `dcgm:` or `headroom:`: one URL (Prometheus) or several separated by
    /// commas. `http` and `https` only; a URL without a path gets the kind's usual one (`/metrics`).
    pub fn parse(kind: RemoteKind, text: &str) -> Result<Self> {
        let urls: Vec<&str> = text.split(',').map(str::trim).collect();
        if urls.iter().any(|u| u.is_empty()) {
            return Err(Error::invalid_msg(
                "source",
                Message::new(Key::InvalidSourceNeedsUrlHttpGpu)
                    .text("kind", kind.prefix().to_string())
                    .text(
                        "value",
                        (match kind {
                            RemoteKind::Prometheus => 9090,
                            RemoteKind::Dcgm => 9400,
                            RemoteKind::Headroom => super::exporter::DEFAULT_PORT,
                        })
                        .to_string(),
                    ),
            ));
        }
        if kind == RemoteKind::Prometheus && urls.len() > 1 {
            return Err(Error::invalid_msg(
                "source",
                Message::new(Key::InvalidSourcePrometheusTakesOneServer),
            ));
        }
        let mut endpoints = Vec::new();
        let mut credentials = None;
        for url in urls {
            let (endpoint, creds) = split_url(kind, url)?;
            if creds.is_some() {
                credentials = creds;
            }
            endpoints.push(endpoint);
        }
        let (auth, user) = match credentials {
            Some((user, Some(password))) => (
                RemoteAuth::Basic {
                    user,
                    password: Secret::new("source", &password)?,
                },
                None,
            ),
            Some((user, None)) => (RemoteAuth::None, Some(user)),
            None => (RemoteAuth::None, None),
        };
        Ok(RemoteSpec {
            kind,
            endpoints,
            auth,
            user,
            timeout: DEFAULT_TIMEOUT,
            ca_pem: None,
        })
    }

    /// `prometheus:https://host:9090`: the source's label, without credentials.
    pub fn label(&self) -> String {
        let urls: Vec<&str> = self.endpoints.iter().map(|e| e.url.as_str()).collect();
        format!("{}:{}", self.kind.prefix(), urls.join(","))
    }
}

/// Environment variables a source's secrets may come from (never from settings or the command line).
pub const TOKEN_ENV: &str = "HEADROOM_SOURCE_TOKEN";
pub const PASSWORD_ENV: &str = "HEADROOM_SOURCE_PASSWORD";
/// A PEM file of the CA certificates an HTTPS source is checked against (not a secret; the file's path).
pub const CA_FILE_ENV: &str = "HEADROOM_SOURCE_CA_FILE";
/// The exporter's bearer token, when not given as a file.
pub const EXPORTER_TOKEN_ENV: &str = "HEADROOM_EXPORTER_TOKEN";

/// Where a source's secrets may be: files (`--source-token-file`, `--source-password-file`) or the environment.
#[derive(Debug, Clone, Default)]
pub struct SecretInputs {
    pub token_file: Option<PathBuf>,
    pub password_file: Option<PathBuf>,
    /// The CA certificates to trust for HTTPS (`--source-ca-file`, else [`CA_FILE_ENV`]).
    pub ca_file: Option<PathBuf>,
}

impl RemoteSpec {
    /// Fills in the credentials: a bearer token (file, else [`TOKEN_ENV`]), or the password of a URL's `user@`
    /// (file, else [`PASSWORD_ENV`]). Both at once, or a user without a password, is an error naming the field.
    pub fn with_secrets(
        mut self,
        inputs: &SecretInputs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let token = read_secret(
            "source_token_file",
            inputs.token_file.as_deref(),
            TOKEN_ENV,
            &env,
        )?;
        if let Some(user) = self.user.take() {
            let password = read_secret(
                "source_password_file",
                inputs.password_file.as_deref(),
                PASSWORD_ENV,
                &env,
            )?
            .ok_or_else(|| {
                Error::invalid_msg(
                    "source",
                    Message::new(Key::InvalidSourceUserNeedsPasswordSource)
                        .text("user", user.to_string())
                        .text("env", PASSWORD_ENV.to_string()),
                )
            })?;
            self.auth = RemoteAuth::Basic { user, password };
        }
        let ca_file = inputs.ca_file.clone().or_else(|| {
            env(CA_FILE_ENV)
                .filter(|v| !v.trim().is_empty())
                .map(PathBuf::from)
        });
        if let Some(path) = ca_file {
            let pem = std::fs::read(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            http::check_ca_pem(&pem).map_err(|why| {
                Error::invalid("source_ca_file", format!("{}: {why}", path.display()))
            })?;
            self.ca_pem = Some(pem);
        }
        if let Some(token) = token {
            if self.auth != RemoteAuth::None {
                return Err(Error::invalid_msg(
                    "source_token_file",
                    Message::new(Key::InvalidSourceBearerTokenUserS),
                ));
            }
            self.auth = RemoteAuth::Bearer(token);
        }
        Ok(self)
    }
}

/// A secret from `file` if given, else from the environment variable `var`; `None` when neither has one.
pub fn read_secret(
    field: &str,
    file: Option<&Path>,
    var: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Secret>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        return Secret::new(field, &text).map(Some);
    }
    match env(var) {
        Some(text) if !text.trim().is_empty() => Secret::new(var, &text).map(Some),
        _ => Ok(None),
    }
}

type Credentials = (String, Option<String>);

/// Splits `scheme://user:password@host:port/path` into the endpoint without credentials and the credentials.
fn split_url(kind: RemoteKind, url: &str) -> Result<(Endpoint, Option<Credentials>)> {
    let bad = |why: Key| {
        let m = Message::new(Key::InvalidSourceUrl)
            .text("url", strip_userinfo(url))
            .phrase("why", why);
        Error::invalid_msg("source", m)
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad(Key::InvalidSourceUrlScheme))?;
    if scheme != "http" && scheme != "https" {
        return Err(bad(Key::InvalidSourceUrlHttp));
    }
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad(Key::InvalidSourceUrlHost));
    }
    let path = match (path.trim_end_matches('/'), kind) {
        ("", RemoteKind::Dcgm | RemoteKind::Headroom) => "/metrics",
        (p, _) => p,
    };
    let credentials = userinfo.map(|u| match u.split_once(':') {
        Some((user, password)) => (percent_decode(user), Some(percent_decode(password))),
        None => (percent_decode(u), None),
    });
    Ok((
        Endpoint {
            url: format!("{scheme}://{host}{path}"),
            authority: host.to_string(),
        },
        credentials,
    ))
}

/// The URL with any `user:password@` removed, for error messages about a URL that did not parse.
pub fn strip_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials_and_get_a_default_path() {
        let s = RemoteSpec::parse(
            RemoteKind::Dcgm,
            "http://u%40x:p%3Ass@gpu1:9400, https://gpu2:9400/m",
        )
        .unwrap();
        assert_eq!(
            s.label(),
            "dcgm:http://gpu1:9400/metrics,https://gpu2:9400/m"
        );
        assert_eq!(s.endpoints[0].authority, "gpu1:9400");
        assert_eq!(
            s.auth,
            RemoteAuth::Basic {
                user: "u@x".into(),
                password: Secret("p:ss".into())
            }
        );
        assert!(
            !format!("{s:?}").contains("p:ss"),
            "Debug must not show the password"
        );
        let p = RemoteSpec::parse(RemoteKind::Prometheus, "https://me@prom:9090/").unwrap();
        assert_eq!(p.label(), "prometheus:https://prom:9090");
        assert_eq!(p.user.as_deref(), Some("me"));
        assert_eq!(p.auth, RemoteAuth::None);
    }

    #[test]
    fn bad_urls_are_named_without_their_password() {
        for (text, why) in [
            ("", "needs a URL"),
            ("gpu1:9400", "http://"),
            ("ftp://gpu1", "only http"),
            ("http://user:hunter2@/x", "no host"),
        ] {
            let err = RemoteSpec::parse(RemoteKind::Dcgm, text)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("source:") && err.contains(why),
                "{text}: {err}"
            );
            assert!(!err.contains("hunter2"), "{err}");
        }
        let err = RemoteSpec::parse(RemoteKind::Prometheus, "http://a,http://b").unwrap_err();
        assert!(err.to_string().contains("one server"));
    }

    #[test]
    fn secrets_come_from_files_or_the_environment() {
        let env = |k: &str| match k {
            TOKEN_ENV => Some("tok\n".to_string()),
            PASSWORD_ENV => Some("pw".to_string()),
            _ => None,
        };
        let none = |_: &str| None;
        let inputs = SecretInputs::default();
        let bearer = RemoteSpec::parse(RemoteKind::Headroom, "http://h:9464")
            .unwrap()
            .with_secrets(&inputs, env)
            .unwrap();
        assert_eq!(bearer.auth, RemoteAuth::Bearer(Secret("tok".into())));
        let basic = RemoteSpec::parse(RemoteKind::Prometheus, "http://me@p:9090")
            .unwrap()
            .with_secrets(&inputs, |k: &str| {
                (k == PASSWORD_ENV).then(|| "pw".to_string())
            })
            .unwrap();
        assert_eq!(
            basic.auth,
            RemoteAuth::Basic {
                user: "me".into(),
                password: Secret("pw".into())
            }
        );
        let err = RemoteSpec::parse(RemoteKind::Prometheus, "http://me@p:9090")
            .unwrap()
            .with_secrets(&inputs, none)
            .unwrap_err();
        assert!(err.to_string().contains(PASSWORD_ENV), "{err}");
        let err = RemoteSpec::parse(RemoteKind::Prometheus, "http://me@p:9090")
            .unwrap()
            .with_secrets(&inputs, env)
            .unwrap_err();
        assert!(err.to_string().starts_with("source_token_file:"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let from_file = RemoteSpec::parse(RemoteKind::Dcgm, "http://h")
            .unwrap()
            .with_secrets(
                &SecretInputs {
                    token_file: Some(file),
                    ..SecretInputs::default()
                },
                env,
            )
            .unwrap();
        assert_eq!(
            from_file.auth,
            RemoteAuth::Bearer(Secret("from-file".into()))
        );
    }
}
