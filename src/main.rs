use clap::Parser;

fn main() {
    let cli = jwtstorm::cli::Cli::parse();
    let code = match jwtstorm::run(cli) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.code
        }
    };
    std::process::exit(code);
}
