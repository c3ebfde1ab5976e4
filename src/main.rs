use clap::Parser;

fn main() {
    let cli = labgrade::cli::Cli::parse();
    let code = labgrade::app::main(cli);
    std::process::exit(code);
}
