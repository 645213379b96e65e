//! One module per subcommand: each parses nothing itself (that is `cli`), calls the library,
//! prints, and picks the exit code. Command modules do not use each other.

pub mod capacity;
pub mod compare;
pub mod diff;
pub mod idp;
pub mod inspect;
pub mod keys;
pub mod kubernetes;
pub mod merge;
pub mod mint;
pub mod report;
pub mod run;
pub mod serve;
pub mod validate;

use crate::cli::{Cli, Command, KeysCommand, KubernetesCommand};
use crate::error::Failure;

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> Result<i32, Failure> {
    match cli.command {
        Command::Keys(KeysCommand::Generate(args)) => keys::generate(args),
        Command::Mint(args) => mint::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Idp(args) => idp::run(args),
        Command::Run(args) => run::run(*args),
        Command::Validate(args) => validate::run(args),
        Command::Report(args) => report::run(args),
        Command::Capacity(args) => capacity::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Diff(args) => diff::run(*args),
        Command::Merge(args) => merge::run(args),
        Command::Kubernetes(KubernetesCommand::Render(args)) => kubernetes::render(args),
    }
}
