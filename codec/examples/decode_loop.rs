//! Runs one codec benchmark workload in a loop, for a profiler:
//! `valgrind --tool=callgrind target/release/examples/decode_loop wschaos small-2-125 20`
//! (see `scripts/profile-codec`). Decoders: wschaos, tungstenite, fastwebsockets.

#[path = "../benches/support/workloads.rs"]
mod workloads;

/// One decoder under test: reads a whole stream, returns the data bytes seen.
type Decode<'a> = dyn Fn(&[u8]) -> u64 + 'a;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(who), Some(name)) = (args.first(), args.get(1)) else {
        eprintln!("usage: decode_loop DECODER WORKLOAD [ITERATIONS]");
        std::process::exit(2);
    };
    let iterations: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let Some((_, bytes)) = workloads::all().into_iter().find(|(n, _)| n == name) else {
        eprintln!("unknown workload {name:?}");
        std::process::exit(2);
    };
    let rt = workloads::runtime();
    let run: Box<Decode<'_>> = match who.as_str() {
        "wschaos" => Box::new(workloads::ours),
        "tungstenite" => Box::new(workloads::tungstenite),
        "fastwebsockets" => Box::new(|b| workloads::fastwebsockets(&rt, b)),
        _ => {
            eprintln!("unknown decoder {who:?}");
            std::process::exit(2);
        }
    };
    let mut total = 0u64;
    for _ in 0..iterations {
        total += run(std::hint::black_box(&bytes));
    }
    println!("{who} {name}: {total} data bytes in {iterations} runs");
}
