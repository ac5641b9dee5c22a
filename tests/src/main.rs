//! `provider-sim`: the provider simulator as a standalone server, for the
//! README demo and the benchmarks. Prints its base URLs, then serves until
//! killed. Faults switch at run time: `GET /_sim/faults?latency_ms=50`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut port = 0u16;
    let mut latency_ms = 0u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| match args.next().and_then(|v| v.parse().ok()) {
            Some(v) => Ok(v),
            None => Err(format!("{name} needs a number")),
        };
        let parsed = match a.as_str() {
            "--port" => value("--port").map(|v: u64| port = v as u16),
            "--latency-ms" => value("--latency-ms").map(|v| latency_ms = v),
            "-h" | "--help" => {
                println!("usage: provider-sim [--port N] [--latency-ms N]");
                println!("Simulated OpenAI and Anthropic admin APIs with deterministic data.");
                println!("Keys: OPENAI_ADMIN_KEY={}", agent_host_tests::OPENAI_KEY);
                println!("      ANTHROPIC_ADMIN_KEY={}", agent_host_tests::ANTHROPIC_KEY);
                return ExitCode::SUCCESS;
            }
            other => Err(format!("unknown argument {other:?}")),
        };
        if let Err(e) = parsed {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let sim = match agent_host_tests::Simulator::start(port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start the simulator: {e}");
            return ExitCode::from(3);
        }
    };
    sim.set_faults(agent_host_tests::Faults { latency_ms, ..Default::default() });
    println!("OPENAI_BASE_URL={}", sim.openai_url());
    println!("ANTHROPIC_BASE_URL={}", sim.anthropic_url());
    println!("OPENROUTER_BASE_URL={}", sim.openrouter_url());
    // Scripts read the lines above as soon as they appear.
    use std::io::Write;
    let _ = std::io::stdout().flush();
    sim.wait();
    ExitCode::SUCCESS
}
