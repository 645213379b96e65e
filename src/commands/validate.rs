//! `jwtstorm validate`: every check `run` makes, without minting or sending anything.

use crate::cli::ValidateArgs;
use crate::error::{Failure, exit};
use crate::model::alg;
use crate::session::prepare;

/// Runs `jwtstorm validate`.
pub fn run(args: ValidateArgs) -> Result<i32, Failure> {
    let p = prepare(args.scenario.as_deref(), &args.overrides, &args.source)?;
    let c = p.check()?;
    let thresholds = match c.thresholds {
        0 => String::new(),
        n => format!(", {n} threshold(s)"),
    };
    let alg_name = alg::name(c.alg);
    let tokens = match c.stream_rate {
        Some(rate) if c.tokens == 0 => {
            format!("an unbounded stream of {alg_name} tokens (about {rate:.0}/s minted here)")
        }
        Some(rate) => format!(
            "a stream of {} {alg_name} tokens, wrapping (about {rate:.0}/s minted here)",
            c.tokens
        ),
        None => format!("{} {alg_name} token(s)", c.tokens),
    };
    println!(
        "{}: ok — '{}', {tokens} ({} key(s): {}), {}, target {}{thresholds}",
        p.loaded.path.display(),
        p.name,
        c.kids.len(),
        c.kids.join(", "),
        c.load,
        c.target,
    );
    if let Some(w) = &c.warning {
        eprintln!("warning: {w}");
    }
    Ok(exit::OK)
}
