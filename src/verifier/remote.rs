//! Keys from the issuer's JWKS over HTTP, cached the way careful libraries cache them: fetched
//! on first use, again on an unknown `kid` at most once per cooldown, and again once the cached
//! set is older than its max-age. A failed fetch keeps the cached keys and is counted.
//!
//! Also the deliberately vulnerable opposite: following a token's own `jku` or `x5u` header to
//! fetch the key that verifies it (loopback addresses only, so a test never reaches out).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;

use super::verify::{Reason, Verified, Verifier};
use crate::model::alg::{self, Family};
use crate::token::keys::{Jwk, JwkSet, KeyMaterial};
use crate::token::policy::Policy;

/// The largest key set or certificate read.
pub const MAX_DOCUMENT: usize = 1 << 20;

/// How the remote key set is cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSettings {
    pub url: String,
    /// Refetch once the cached set is older than this.
    pub max_age: Duration,
    /// At most one refetch for unknown kids per this long.
    pub cooldown: Duration,
    /// One fetch's time limit.
    pub timeout: Duration,
}

/// Counters of the fetches made.
#[derive(Debug, Default)]
pub struct FetchCounters {
    /// Fetches of the JWKS (answered or not).
    pub fetches: AtomicU64,
    pub failures: AtomicU64,
    /// Answers 304 Not Modified.
    pub not_modified: AtomicU64,
    /// Refetches caused by an unknown kid.
    pub unknown_kid_refetches: AtomicU64,
    /// Keys fetched from a token's own `jku` or `x5u` header (the vulnerable option).
    pub header_fetches: AtomicU64,
}

/// A fetched document and its ETag.
type Fetched = (Vec<u8>, Option<String>);

struct Cached {
    verifier: Arc<Verifier>,
    fetched: Instant,
    etag: Option<String>,
}

/// A verifier whose keys come from a URL.
pub struct RemoteKeys {
    settings: RemoteSettings,
    policy: Policy,
    client: reqwest::Client,
    cached: RwLock<Option<Cached>>,
    /// One fetch at a time; waiters then use what it brought.
    fetching: tokio::sync::Mutex<()>,
    last_unknown: std::sync::Mutex<Option<Instant>>,
    /// When a fetch with nothing cached last failed: with no keys, retries wait the cooldown
    /// too, so a down issuer is not fetched once per request.
    last_empty_failure: std::sync::Mutex<Option<Instant>>,
    /// Fetches completed, for waiters to see that one happened while they waited.
    generation: AtomicU64,
    pub counters: Arc<FetchCounters>,
}

/// The HTTP client key fetches use: bounded in time, no proxy, its own user agent.
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy()
        .user_agent(concat!("jwtstorm-verifier/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("building the JWKS client: {e}"))
}

/// Reads at most [`MAX_DOCUMENT`] bytes of a response body.
async fn body(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if out.len() + chunk.len() > MAX_DOCUMENT {
            return Err(format!("the document is larger than {MAX_DOCUMENT} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The algorithms a JWK may verify under `policy`: its `alg` if it names one, else every allowed
/// algorithm of its key type and curve. Secret (`oct`) keys never come from a URL.
fn algorithms_of(jwk: &Jwk, policy: &Policy) -> Vec<Algorithm> {
    if let Some(a) = jwk.alg.as_deref() {
        return alg::parse(a)
            .ok()
            .filter(|a| policy.algorithms.contains(a) && alg::family(*a) != Family::Hmac)
            .into_iter()
            .collect();
    }
    policy
        .algorithms
        .iter()
        .copied()
        .filter(|a| match (jwk.kty.as_str(), alg::family(*a)) {
            ("RSA", Family::Rsa) => true,
            ("EC", Family::Ec) => match jwk.crv.as_deref() {
                Some("P-256") => *a == Algorithm::ES256,
                Some("P-384") => *a == Algorithm::ES384,
                _ => false,
            },
            ("OKP", Family::Ed) => jwk.crv.as_deref() == Some("Ed25519"),
            _ => false,
        })
        .collect()
}

/// The keys of a JWKS document that `policy` can use; keys it cannot are skipped.
pub fn keys_of(document: &[u8], policy: &Policy, source: &str) -> Result<Vec<KeyMaterial>, String> {
    let set: JwkSet =
        serde_json::from_slice(document).map_err(|e| format!("{source}: not a JWK Set ({e})"))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        if jwk.kty == "oct" {
            continue;
        }
        for a in algorithms_of(jwk, policy) {
            if let Ok(k) = KeyMaterial::from_jwk(a, None, &jwk.public(), source) {
                keys.push(k);
            }
        }
    }
    Ok(keys)
}

impl RemoteKeys {
    pub fn new(settings: RemoteSettings, policy: Policy) -> Result<Self, String> {
        if !settings.url.starts_with("http://") && !settings.url.starts_with("https://") {
            return Err(format!(
                "--jwks-url '{}': expected an http:// or https:// URL",
                settings.url
            ));
        }
        Ok(RemoteKeys {
            client: client(settings.timeout)?,
            settings,
            policy,
            cached: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
            last_unknown: std::sync::Mutex::new(None),
            last_empty_failure: std::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
            counters: Arc::new(FetchCounters::default()),
        })
    }

    pub fn settings(&self) -> &RemoteSettings {
        &self.settings
    }

    fn current(&self) -> Option<(Arc<Verifier>, Instant)> {
        let c = self.cached.read().ok()?;
        c.as_ref().map(|c| (c.verifier.clone(), c.fetched))
    }

    /// Fetches the set once (holding the fetch lock); on failure keeps what is cached.
    async fn refresh(&self) {
        let etag = self
            .cached
            .read()
            .ok()
            .and_then(|c| c.as_ref().and_then(|c| c.etag.clone()));
        self.counters.fetches.fetch_add(1, Ordering::Relaxed);
        let mut req = self.client.get(&self.settings.url);
        if let Some(tag) = &etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        let result: Result<Option<Fetched>, String> = async {
            let resp = req.send().await.map_err(|e| e.to_string())?;
            if resp.status() == reqwest::StatusCode::NOT_MODIFIED && etag.is_some() {
                return Ok(None);
            }
            if !resp.status().is_success() {
                return Err(format!("status {}", resp.status().as_u16()));
            }
            let tag = resp
                .headers()
                .get(reqwest::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok(Some((body(resp).await?, tag)))
        }
        .await;
        match result {
            Ok(None) => {
                self.counters.not_modified.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut c) = self.cached.write()
                    && let Some(c) = c.as_mut()
                {
                    c.fetched = Instant::now();
                }
            }
            Ok(Some((doc, tag))) => match keys_of(&doc, &self.policy, &self.settings.url)
                .and_then(|keys| Verifier::with_keys(self.policy.clone(), &keys, true))
            {
                Ok(v) => {
                    if let Ok(mut c) = self.cached.write() {
                        *c = Some(Cached {
                            verifier: Arc::new(v),
                            fetched: Instant::now(),
                            etag: tag,
                        });
                    }
                }
                Err(_) => {
                    self.counters.failures.fetch_add(1, Ordering::Relaxed);
                }
            },
            Err(_) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Fetches unless another fetch completed while this one waited for the lock.
    async fn refresh_once(&self) {
        let seen = self.generation.load(Ordering::Acquire);
        let _guard = self.fetching.lock().await;
        if self.generation.load(Ordering::Acquire) == seen {
            self.refresh().await;
        }
    }

    /// Fetches the key set now if nothing is cached (a server does so before it serves).
    pub async fn warm(&self) {
        if self.current().is_none() {
            self.refresh_once().await;
        }
    }

    /// Verifies `token` at Unix time `now` with the cached keys, fetching as the cache rules say.
    pub async fn verify(&self, token: &[u8], now: i64) -> Result<Verified, Reason> {
        if self.current().is_none() {
            let waited = self
                .last_empty_failure
                .lock()
                .map_or(true, |l| l.is_none_or(|t| t.elapsed() >= self.settings.cooldown));
            if waited {
                self.refresh_once().await;
                if self.current().is_none()
                    && let Ok(mut l) = self.last_empty_failure.lock()
                {
                    *l = Some(Instant::now());
                }
            }
        } else if let Some((_, fetched)) = self.current()
            && fetched.elapsed() >= self.settings.max_age
        {
            // One request refreshes; the others go on with the cached keys meanwhile.
            if let Ok(_guard) = self.fetching.try_lock() {
                self.refresh().await;
            }
        }
        let Some((verifier, _)) = self.current() else {
            return Err(Reason::UnknownKid);
        };
        let result = verifier.verify(token, now);
        if result != Err(Reason::UnknownKid) {
            return result;
        }
        let due = {
            let Ok(mut last) = self.last_unknown.lock() else {
                return result;
            };
            let due = last.is_none_or(|l| l.elapsed() >= self.settings.cooldown);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if !due {
            return result;
        }
        self.counters
            .unknown_kid_refetches
            .fetch_add(1, Ordering::Relaxed);
        self.refresh_once().await;
        match self.current() {
            Some((v, _)) => v.verify(token, now),
            None => result,
        }
    }
}

/// Whether `url` names a loopback host, the only place the vulnerable option fetches from.
fn loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// The deliberately vulnerable key lookup: the key named by the token's own `jku` (a JWKS URL)
/// or `x5u` (a PEM certificate URL) header, fetched on every use.
pub struct HeaderKeys {
    client: reqwest::Client,
    pub counters: Arc<FetchCounters>,
}

impl HeaderKeys {
    pub fn new(counters: Arc<FetchCounters>) -> Result<Self, String> {
        Ok(HeaderKeys {
            client: client(Duration::from_secs(2))?,
            counters,
        })
    }

    /// The key a token's header points at, if it points at one that can be fetched.
    pub async fn fetch(
        &self,
        header: &super::verify::HeaderRefs,
        policy: &Policy,
    ) -> Option<Vec<KeyMaterial>> {
        let (url, is_cert) = match (&header.jku, &header.x5u) {
            (Some(u), _) => (u.as_str(), false),
            (None, Some(u)) => (u.as_str(), true),
            (None, None) => return None,
        };
        let url = reqwest::Url::parse(url).ok()?;
        if !matches!(url.scheme(), "http" | "https") || !loopback(&url) {
            return None;
        }
        self.counters.header_fetches.fetch_add(1, Ordering::Relaxed);
        let resp = self.client.get(url.clone()).send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let doc = body(resp).await.ok()?;
        let alg = header.alg?;
        if !is_cert {
            let mut keys = keys_of(&doc, policy, url.as_str()).ok()?;
            keys.retain(|k| k.alg == alg && header.kid.as_ref().is_none_or(|kid| kid == &k.kid));
            return Some(keys);
        }
        let block = pem::parse(&doc).ok()?;
        let cert_der = rustls_pki_types::CertificateDer::from(block.contents().to_vec());
        let cert = webpki::EndEntityCert::try_from(&cert_der).ok()?;
        let spki = cert.subject_public_key_info();
        let spki_pem = pem::encode(&pem::Pem::new("PUBLIC KEY", spki.as_ref().to_vec()));
        KeyMaterial::from_public_pem(alg, header.kid.clone(), spki_pem.as_bytes(), url.as_str())
            .ok()
            .map(|k| vec![k])
    }
}
