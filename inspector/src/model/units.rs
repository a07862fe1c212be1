//! Human-readable numbers for tables: durations, rates, byte counts,
//! ratios. Shared by the TUI and the `--once` text table, so both print the
//! same figure the same way.

/// A duration in nanoseconds, three significant digits at most:
/// `850ns`, `12.3µs`, `4.56ms`, `1.23s`, `37.0s`, `5m12s`, `2h03m`.
pub fn duration_ns(ns: u64) -> String {
    const US: u64 = 1_000;
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    match ns {
        0..US => format!("{ns}ns"),
        US..MS => scaled(ns as f64 / US as f64, "µs"),
        MS..S => scaled(ns as f64 / MS as f64, "ms"),
        _ if ns < 100 * S => scaled(ns as f64 / S as f64, "s"),
        _ if ns < 3_600 * S => {
            let s = ns / S;
            format!("{}m{:02}s", s / 60, s % 60)
        }
        _ => {
            let m = ns / S / 60;
            format!("{}h{:02}m", m / 60, m % 60)
        }
    }
}

/// `value` with three significant digits (`1.23`, `12.3`, `123`).
fn scaled(value: f64, unit: &str) -> String {
    if value < 10.0 {
        format!("{value:.2}{unit}")
    } else if value < 100.0 {
        format!("{value:.1}{unit}")
    } else {
        format!("{value:.0}{unit}")
    }
}

/// An optional duration; `-` when there is none (no samples yet).
pub fn opt_duration_ns(ns: Option<u64>) -> String {
    ns.map_or_else(|| "-".to_owned(), duration_ns)
}

/// Events per second, with k/M suffixes: `0`, `12.5`, `950`, `1.2k`, `3.4M`.
pub fn rate(per_s: f64) -> String {
    if per_s <= 0.0 || !per_s.is_finite() {
        "0".to_owned()
    } else if per_s < 10.0 {
        format!("{per_s:.1}")
    } else if per_s < 1_000.0 {
        format!("{per_s:.0}")
    } else if per_s < 1_000_000.0 {
        compact(per_s / 1_000.0, "k")
    } else {
        compact(per_s / 1_000_000.0, "M")
    }
}

/// An optional rate; `-` before there are two snapshots to compare.
pub fn opt_rate(per_s: Option<f64>) -> String {
    per_s.map_or_else(|| "-".to_owned(), rate)
}

fn compact(value: f64, suffix: &str) -> String {
    if value < 10.0 {
        format!("{value:.1}{suffix}")
    } else {
        format!("{value:.0}{suffix}")
    }
}

/// A byte count: `512B`, `4.0KiB`, `12MiB`, `1.5GiB`.
pub fn bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let v = n as f64;
    if v < K {
        format!("{n}B")
    } else if v < K * K {
        compact(v / K, "KiB")
    } else if v < K * K * K {
        compact(v / (K * K), "MiB")
    } else {
        compact(v / (K * K * K), "GiB")
    }
}

/// A ratio in [0, 1] as a whole percentage: `0%`, `42%`, `100%`.
pub fn percent(ratio: f64) -> String {
    format!("{:.0}%", (ratio * 100.0).clamp(0.0, 100.0))
}

/// An optional ratio; `-` when unknown.
pub fn opt_percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "-".to_owned(), percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_unit_and_three_digits() {
        assert_eq!(duration_ns(0), "0ns");
        assert_eq!(duration_ns(850), "850ns");
        assert_eq!(duration_ns(12_345), "12.3µs");
        assert_eq!(duration_ns(4_560_000), "4.56ms");
        assert_eq!(duration_ns(1_230_000_000), "1.23s");
        assert_eq!(duration_ns(37_000_000_000), "37.0s");
        assert_eq!(duration_ns(312_000_000_000), "5m12s");
        assert_eq!(duration_ns(7_380_000_000_000), "2h03m");
        assert_eq!(opt_duration_ns(None), "-");
    }

    #[test]
    fn rates_bytes_and_percentages() {
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(f64::NAN), "0");
        assert_eq!(rate(2.25), "2.2");
        assert_eq!(rate(950.0), "950");
        assert_eq!(rate(1_234.0), "1.2k");
        assert_eq!(rate(3_400_000.0), "3.4M");
        assert_eq!(opt_rate(None), "-");
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(4096), "4.0KiB");
        assert_eq!(bytes(12 * 1024 * 1024), "12MiB");
        assert_eq!(percent(0.904), "90%");
        assert_eq!(percent(1.7), "100%");
        assert_eq!(opt_percent(None), "-");
    }
}
