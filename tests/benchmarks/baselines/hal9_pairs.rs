//! HAL9's pair discovery as a plain double loop in Rust (`rustc -O`), as in HAL9's own f32 code: the
//! baseline of tests/benchmarks/test_bench_reference.py.
//!
//! Usage: hal9_pairs FEATURES N REPEATS. FEATURES holds N f32 `s` then N f32 `c` (native byte order).
//! Prints "count seconds" per repeat; seconds time the loop only (std::time::Instant).
use std::time::Instant;

fn count_pairs(s: &[f32], c: &[f32]) -> u64 {
    let n = s.len();
    let mut count = 0u64;
    for i in 0..n {
        for j in (i + 1)..n {
            let v = (1.0f32 - 0.5 * (s[i] - s[j]).abs()) - 0.3 * (c[i] - c[j]).abs();
            if v > 0.5 {
                count += 1;
            }
        }
    }
    count
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: {} FEATURES N REPEATS", args[0]);
        std::process::exit(2);
    }
    let n: usize = args[2].parse().expect("N");
    let repeats: usize = args[3].parse().expect("REPEATS");
    let bytes = std::fs::read(&args[1]).expect("FEATURES");
    assert_eq!(bytes.len(), 8 * n, "expected {} float32 values", 2 * n);
    let vals: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])).collect();
    let (s, c) = vals.split_at(n);
    for _ in 0..repeats {
        let t = Instant::now();
        let count = count_pairs(s, c);
        println!("{} {:.9}", count, t.elapsed().as_secs_f64());
    }
}
