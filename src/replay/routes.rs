//! Several endpoints in one run: each request picks one by weight, from its index alone (so a
//! fleet of segments spreads exactly as one process would), and a good token's answer there
//! depends on the scope the endpoint needs.

use std::sync::Arc;

use super::transport::Target;
use crate::model::Deserved;
use crate::token::classes::TokenClass;
use crate::token::rng::TokenRng;

/// Salt of the endpoint draw, so it is independent of the token draws of the same index.
const SALT: u64 = 0x656e_6470_6f69_6e74;

/// One endpoint: its prepared request parts and the scope it needs.
pub struct Route {
    pub target: Arc<Target>,
    pub scope: Option<String>,
}

/// The endpoints and their cumulative weights.
pub struct Routes {
    pub routes: Vec<Route>,
    cumulative: Vec<f64>,
    seed: u64,
    /// The scope every minted token but `insufficient_scope` carries.
    token_scope: Option<String>,
}

impl Routes {
    /// Routes with weights (each above 0); `seed` makes the draw reproducible.
    pub fn new(routes: Vec<(Route, f64)>, seed: u64, token_scope: Option<String>) -> Routes {
        let mut total = 0.0;
        let mut cumulative = Vec::with_capacity(routes.len());
        let mut out = Vec::with_capacity(routes.len());
        for (r, w) in routes {
            total += w;
            cumulative.push(total);
            out.push(r);
        }
        Routes {
            routes: out,
            cumulative,
            seed,
            token_scope,
        }
    }

    /// The endpoint of the whole run's request `g`.
    pub fn pick(&self, g: u64) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = TokenRng::new(self.seed ^ SALT, g).next_f64() * total;
        self.cumulative
            .partition_point(|c| *c <= x)
            .min(self.routes.len().saturating_sub(1))
    }

    /// The first endpoint where a `valid` token is accepted (for the preflight), if any.
    pub fn accepting(&self) -> Option<usize> {
        (0..self.routes.len())
            .find(|r| self.deserved(*r, TokenClass::Valid, Deserved::Accept) == Deserved::Accept)
    }

    /// What a token deserves at endpoint `r`: a good token (accepted or forbidden for its
    /// own scope) is accepted where the endpoint needs no scope or one it carries, and
    /// forbidden elsewhere; a bad token is rejected anywhere.
    pub fn deserved(&self, r: usize, class: TokenClass, deserved: Deserved) -> Deserved {
        if matches!(deserved, Deserved::Reject | Deserved::Either) {
            return deserved;
        }
        match self.routes.get(r).and_then(|x| x.scope.as_deref()) {
            None => Deserved::Accept,
            Some(s) if class != TokenClass::InsufficientScope && self.token_scope.as_deref() == Some(s) => {
                Deserved::Accept
            }
            Some(_) => Deserved::Forbid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Arc<Target> {
        Arc::new(Target {
            method: hyper::Method::GET,
            uri: "/a".parse().unwrap(),
            host: hyper::header::HeaderValue::from_static("x"),
            token_header: None,
            headers: Vec::new(),
            body: bytes::Bytes::new(),
            absolute_prefix: None,
            max_body: 1,
        })
    }

    #[test]
    fn requests_spread_by_weight_and_scopes_decide_good_tokens() {
        let routes = Routes::new(
            vec![
                (
                    Route {
                        target: target(),
                        scope: Some("orders:write".into()),
                    },
                    3.0,
                ),
                (
                    Route {
                        target: target(),
                        scope: Some("admin".into()),
                    },
                    1.0,
                ),
                (
                    Route {
                        target: target(),
                        scope: None,
                    },
                    1.0,
                ),
            ],
            7,
            Some("orders:write".into()),
        );
        let mut n = [0u32; 3];
        for g in 0..10_000 {
            n[routes.pick(g)] += 1;
        }
        assert!(
            (5700..6300).contains(&n[0]) && (1700..2300).contains(&n[1]),
            "{n:?}"
        );
        assert_eq!(routes.pick(42), routes.pick(42));
        use Deserved::*;
        let (valid, scopeless) = (TokenClass::Valid, TokenClass::InsufficientScope);
        assert_eq!(routes.deserved(0, valid, Accept), Accept);
        assert_eq!(routes.deserved(1, valid, Accept), Forbid);
        assert_eq!(routes.deserved(2, scopeless, Forbid), Accept);
        assert_eq!(routes.deserved(0, scopeless, Forbid), Forbid);
        assert_eq!(routes.deserved(2, TokenClass::Expired, Reject), Reject);
        assert_eq!(routes.accepting(), Some(0));
    }
}
