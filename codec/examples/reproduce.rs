//! Runs saved fuzz inputs through a target's check (what `scripts/reproduce` calls).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((target, files)) = args.split_first() else {
        eprintln!("error: usage: reproduce TARGET FILE...");
        return ExitCode::from(2);
    };
    let mut failed = false;
    for file in files {
        let data = match std::fs::read(file) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: cannot read {file}: {e}");
                return ExitCode::from(2);
            }
        };
        match wschaos_codec::fuzz::run(target, &data) {
            Ok(()) => println!("ok       {file} ({} bytes)", data.len()),
            Err(e) => {
                failed = true;
                println!("FINDING  {file}: {e}");
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
