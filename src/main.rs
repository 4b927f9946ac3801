use std::process::ExitCode;

fn main() -> ExitCode {
    lifeboat::cli::main()
}
