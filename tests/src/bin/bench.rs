//! The converge benchmark: times `up` from nothing, `plan` and `up` on a converged stack, and
//! `down`, for `stacks/prod.toml` against the moto emulator, and counts their requests.
//! Run with `cargo run -p berth-tests --bin bench [-- ROUNDS [STACK_FILE]]` (after `cargo xtask
//! test` has installed the emulator); STACK_FILE defaults to `stacks/prod.toml`. Figures are for the emulator: they measure berth's own overhead
//! and request counts, not AWS's provisioning times.

use std::time::{Duration, Instant};

use berth_tests::{project_root, Harness, Outcome};

struct Sample {
    elapsed: Duration,
    requests: usize,
    mutating: usize,
}

fn sample(outcome: &Outcome, elapsed: Duration) -> Sample {
    if let Err(err) = &outcome.result {
        panic!("benchmark command failed: {err}\n{}", outcome.stderr);
    }
    Sample {
        elapsed,
        requests: outcome.calls.len(),
        mutating: outcome.mutating().len(),
    }
}

async fn timed(h: &Harness, args: &[&str]) -> Sample {
    let start = Instant::now();
    let outcome = h.xtask(args).await;
    sample(&outcome, start.elapsed())
}

#[allow(clippy::print_stdout)] // a benchmark binary reports on stdout
fn report(name: &str, samples: &[Sample]) {
    let mut ms: Vec<f64> = samples
        .iter()
        .map(|s| s.elapsed.as_secs_f64() * 1000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    println!(
        "{name:<28} median {median:>8.1} ms   min {:>8.1} ms   max {:>8.1} ms   requests {:>4} (mutating {:>3})",
        ms[0],
        ms[ms.len() - 1],
        samples[0].requests,
        samples[0].mutating
    );
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let file = std::env::args()
        .nth(2)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| project_root().join("stacks/prod.toml"));
    // Deletion protection off, so that each round can also time `down`.
    let config = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()))
        .replace("deletion_protection = true", "deletion_protection = false");
    let (mut up, mut plan, mut again, mut down) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        // A fresh account per round: every `up` starts from nothing.
        let h = Harness::new().await;
        h.write_stack("prod", &config);
        // The emulator builds each service's backend lazily, per account, on its first request
        // (IAM loads its managed policies, SSM its public parameters: up to half a second
        // each). A plan first, untimed, pays that, so the figures are berth's, not moto's.
        h.xtask(&["plan", "prod"]).await;
        up.push(timed(&h, &["up", "prod", "--yes"]).await);
        plan.push(timed(&h, &["plan", "prod"]).await);
        again.push(timed(&h, &["up", "prod", "--yes"]).await);
        down.push(
            timed(
                &h,
                &[
                    "down",
                    "prod",
                    "--yes",
                    "--delete-database",
                    "--delete-images",
                ],
            )
            .await,
        );
    }
    #[allow(clippy::print_stdout)]
    {
        println!(
            "berth converge benchmark: {} against moto, {rounds} rounds",
            file.display()
        );
    }
    report("up (from nothing)", &up);
    report("plan (converged)", &plan);
    report("up (converged, no change)", &again);
    report("down", &down);
}
