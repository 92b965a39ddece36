use clap::Parser;

fn main() {
    let cli = mkeprep::cli::Cli::parse();
    let code = mkeprep::cli::dispatch(cli);
    std::process::exit(code);
}
