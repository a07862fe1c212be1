//! Unit tests of the fs benchmark: command lines, parsing, rates and
//! the report's shape.

use super::*;
use crate::report::Machine;
use std::path::Path;

const FIO_JSON: &str = r#"note: both iodepth >= 1 and synchronous I/O engine are selected
{
  "fio version" : "fio-3.33",
  "timestamp" : 1795494912,
  "jobs" : [
{
  "jobname" : "ringline-bench",
  "error" : 0,
  "read" : { "io_bytes" : 5890109440, "total_ios" : 1438016, "runtime" : 3000, "iops" : 479338.6 },
  "write" : { "io_bytes" : 0, "total_ios" : 0, "runtime" : 0, "iops" : 0.0 },
  "usr_cpu" : 24.8, "sys_cpu" : 55.2
}
  ]
}
"#;

#[test]
fn fio_json_gives_ops_bytes_and_runtime_of_the_workloads_direction() {
    let p = parse_fio_output(FIO_JSON, Workload::RandRead).expect("parses");
    assert_eq!(p.ops, 1_438_016);
    assert_eq!(p.bytes, 5_890_109_440);
    assert_eq!(p.io_secs, 3.0);
    assert_eq!(p.self_cpu_secs, None);
    // No write phase: an error, not a division by zero.
    assert!(parse_fio_output(FIO_JSON, Workload::SeqWrite).is_err());
    assert!(parse_fio_output("fio: command not found", Workload::RandRead).is_err());
    let failed = FIO_JSON.replace("\"error\" : 0", "\"error\" : 5");
    assert!(parse_fio_output(&failed, Workload::RandRead).is_err());
}

#[test]
fn program_json_is_the_last_json_line() {
    let out = "warming up\n{\"ops\":10,\"bytes\":40960,\"io_secs\":0.5,\"window_cpu_secs\":0.25,\"backend\":\"io_uring\"}\n";
    let p = parse_program_output(out).expect("parses");
    assert_eq!(
        p,
        Parsed {
            ops: 10,
            bytes: 40960,
            io_secs: 0.5,
            self_cpu_secs: Some(0.25)
        }
    );
    assert!(parse_program_output("no json").is_err());
    assert!(parse_program_output("{\"ops\":1}").is_err());
}

#[test]
fn runs_derive_rates_and_cpu_per_op() {
    let parsed = Parsed {
        ops: 1_000_000,
        bytes: 4_096_000_000,
        io_secs: 2.0,
        self_cpu_secs: None,
    };
    let r = FsRun::new(Side::Ringline, parsed, 1.6, 1.7, 0.01);
    assert_eq!(r.iops, 500_000.0);
    assert_eq!(r.mb_per_sec, 2048.0);
    assert!((r.cpu_us_per_op - 1.6).abs() < 1e-9);
    assert_eq!(r.ops_per_core_sec, 625_000.0);
    let idle = FsRun::new(Side::Fio, Parsed::default(), 0.0, 0.0, 0.0);
    assert!(idle.iops.is_nan() && idle.ops_per_core_sec.is_nan());
}

fn run_with(side: Side, ops: u64, cpu: f64) -> FsRun {
    let parsed = Parsed {
        ops,
        bytes: ops * 4096,
        io_secs: 1.0,
        self_cpu_secs: None,
    };
    FsRun::new(side, parsed, cpu, cpu, 0.0)
}

#[test]
fn verdict_lines_have_the_issues_shape() {
    let mut c = FsComparison::new("fio");
    assert_eq!(
        c.summary_lines("4KiB randread", "IOPS")[0],
        "fs 4KiB randread IOPS ratio vs fio: no valid pairs"
    );
    for (i, (ours, theirs)) in [(87, 100), (80, 100), (91, 100), (85, 100), (90, 100)]
        .into_iter()
        .enumerate()
    {
        let (a, b) = (
            run_with(Side::Ringline, ours, 1.0),
            run_with(Side::Fio, theirs, 2.0),
        );
        c.push(FsPair {
            pair: i,
            subject_first: i % 2 == 0,
            throughput_ratio: a.iops / b.iops,
            ops_per_core_sec_ratio: a.ops_per_core_sec / b.ops_per_core_sec,
            steal_share: 0.0,
            subject: a,
            other: b,
        });
    }
    let [iops, core] = c.summary_lines("4KiB randread", "IOPS");
    assert_eq!(
        iops,
        "fs 4KiB randread IOPS ratio vs fio: 0.87 (min 0.80, max 0.91, 5 pairs)"
    );
    assert_eq!(
        core,
        "fs 4KiB randread ops-per-core-s ratio vs fio: 1.74 (min 1.60, max 1.82, 5 pairs)"
    );
    let report = FsReport {
        benchmark: "fs",
        version: 1,
        machine: Machine {
            cpus: 2,
            kernel: "6.18".into(),
        },
        settings: FsSettings {
            pairs: 5,
            secs: 1.0,
            queue_depth: 32,
            file_size: 1 << 28,
            dir: "/var/tmp".into(),
            filesystem: "ext4".into(),
            ringline_api: "owned".into(),
            fio_options: fio_common_options(32, true),
            fio_version: Some("fio-3.33".into()),
        },
        started_unix_secs: 0,
        wall_secs: 1.0,
        cells: vec![FsCell {
            label: "4KiB randread".into(),
            workload: "randread".into(),
            io: "buffered".into(),
            mode: "concurrent".into(),
            block_size: 4096,
            queue_depth: 32,
            file_size: 1 << 28,
            skipped: vec![],
            comparisons: vec![c],
        }],
    };
    let table = markdown_table(&report);
    assert!(
        table.contains("| 4KiB randread | fio | 0.87 (0.80..0.91) | 1.74 (1.60..1.82) |"),
        "{table}"
    );
    let v = serde_json::to_value(&report).expect("serializable");
    assert_eq!(v["cells"][0]["comparisons"][0]["vs"], "fio");
    assert_eq!(v["cells"][0]["comparisons"][0]["throughput_ratio"]["n"], 5);
}

#[test]
fn fio_gets_the_same_depth_block_and_mode() {
    let a = fio_args(&FioJob {
        file: Path::new("/d/read.dat"),
        size: 1 << 28,
        workload: Workload::RandRead,
        bs: 4096,
        qd: 32,
        direct: false,
        secs: 3.0,
        tuned: true,
    });
    for want in [
        "--filename=/d/read.dat",
        "--size=268435456",
        "--rw=randread",
        "--bs=4096",
        "--iodepth=32",
        "--direct=0",
        "--runtime=3000ms",
        "--ioengine=io_uring",
        "--invalidate=0",
        "--thread",
        "--iodepth_batch_submit=32",
    ] {
        assert!(a.iter().any(|x| x == want), "{want} missing from {a:?}");
    }
    let w = fio_args(&FioJob {
        file: Path::new("/d/w"),
        size: 1 << 28,
        workload: Workload::SeqWrite,
        bs: 1 << 20,
        qd: 8,
        direct: true,
        secs: 0.3,
        tuned: false,
    });
    assert!(w.iter().any(|x| x == "--rw=write"));
    assert!(w.iter().any(|x| x == "--direct=1"));
    assert!(w.iter().any(|x| x == "--runtime=300ms"));
    assert!(!w.iter().any(|x| x.starts_with("--gtod_reduce")));
}

#[test]
fn the_slower_starter_is_launched_first() {
    assert_eq!(
        launch_delays(0.25, 0.01),
        (Duration::ZERO, Duration::from_secs_f64(0.24))
    );
    assert_eq!(
        launch_delays(0.01, 0.25),
        (Duration::from_secs_f64(0.24), Duration::ZERO)
    );
    assert_eq!(
        launch_delays(f64::NAN, 0.0),
        (Duration::ZERO, Duration::ZERO)
    );
}

#[test]
fn names_parse_and_skips_are_explained() {
    assert_eq!(Side::parse("tokio-fs"), Ok(Side::Tokio));
    assert_eq!(Side::parse("FIO"), Ok(Side::Fio));
    assert_eq!(Side::parse("ringline-mio"), Ok(Side::RinglineMio));
    assert!(Side::parse("mio").is_err());
    assert_eq!(Workload::parse("write"), Ok(Workload::SeqWrite));
    assert_eq!(Io::parse("direct"), Ok(Io::Direct));
    assert!(skip_reason(Side::Fio, Io::Buffered, false).is_some());
    assert!(skip_reason(Side::Fio, Io::Buffered, true).is_none());
    assert!(skip_reason(Side::Tokio, Io::Direct, true).is_some());
    assert!(skip_reason(Side::TokioPread, Io::Direct, true).is_none());
    assert_eq!(PairMode::auto(Io::Direct), PairMode::Alternating);
}

#[test]
fn an_open_file_shows_in_proc_fd() {
    let path = std::env::temp_dir().join(format!("ringline-bench-fs-open-{}", std::process::id()));
    let f = std::fs::File::create(&path).expect("create");
    let canonical = std::fs::canonicalize(&path).expect("canonical");
    assert_eq!(has_open(std::process::id(), &canonical), Some(true));
    drop(f);
    assert_eq!(has_open(std::process::id(), &canonical), Some(false));
    let _ = std::fs::remove_file(&path);
}
