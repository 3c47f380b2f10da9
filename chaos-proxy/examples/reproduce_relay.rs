//! Runs saved `proxy_relay` fuzz inputs through the relay check (`scripts/reproduce`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut failed = false;
    for file in std::env::args().skip(1) {
        match std::fs::read(&file) {
            Ok(data) => match wschaos::proxy::fuzz::check_relay(&data) {
                Ok(()) => println!("ok       {file} ({} bytes)", data.len()),
                Err(e) => {
                    failed = true;
                    println!("FINDING  {file}: {e}");
                }
            },
            Err(e) => {
                eprintln!("error: cannot read {file}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
