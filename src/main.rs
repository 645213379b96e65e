use clap::Parser;

fn main() {
    quiet_on_closed_output();
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

/// `jwtstorm ... | head` closes stdout early: printing then fails, and the program ends
/// quietly with success instead of a panic message, as ripgrep does. Results and reports are
/// written before anything is printed, so nothing measured is lost.
fn quiet_on_closed_output() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info)
    }));
}
