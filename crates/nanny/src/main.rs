fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match nanny::options::parse(&args) {
        Ok(nanny::options::Command::Help) => print!("{}", nanny::options::USAGE),
        Ok(nanny::options::Command::Version) => {
            print!("{}", daemon::cli::version_text("nanny 1.46"))
        }
        Ok(nanny::options::Command::Run(_)) => {
            eprintln!("nanny: monitoring is not part of this build yet");
            std::process::exit(1);
        }
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(1);
        }
    }
}
