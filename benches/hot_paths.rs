//! Micro-benchmarks of the paths every ping and every sweep go through:
//! parsing a frequency or a schedule, a schedule's next fire, recording a ping in the
//! local backend, raising the alerts of due jobs, and timing a request or a store
//! operation (SPEC §7). Run with
//! `cargo bench --bench hot_paths`; the load tests of the whole server are
//! `scripts/bench.sh` and `scripts/bench-perf.sh`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use overdue::backend::{Backend, BackendOptions, LocalBackend, Ping, SyncMode, Wakers};
use overdue::domain::{Frequency, JobName, Schedule, UnixTime};
use overdue::sweeper::sweep_once;
use tokio::runtime::Runtime;

/// Jobs in the registry for the ping benchmarks, as in `scripts/bench.sh`.
const JOBS: usize = 10_000;
/// Every ping of the benchmarks arrives at this moment (2027-01-15T08:00:00Z).
const NOW: i64 = 1_800_000_000;

fn options() -> BackendOptions {
    BackendOptions {
        max_services: 1_000_000,
        history: 100,
        realert_every: Some(Duration::from_secs(60)),
        realert_max: Duration::from_secs(24 * 3600),
        startup_grace: Duration::from_secs(900),
        sync: SyncMode::Normal,
        fanout: overdue::backend::Fanout::default(),
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn names(n: usize) -> Vec<JobName> {
    (0..n)
        .map(|i| JobName::parse(&format!("job-{i}")).expect("a valid name"))
        .collect()
}

fn at(secs: i64) -> UnixTime {
    UnixTime::from_secs(secs).expect("a representable time")
}

/// Registers `names` with `frequency`, all last pinged at `last_ping`.
async fn register(backend: &LocalBackend, names: &[JobName], frequency: &str, last_ping: i64) {
    let frequency = Frequency::parse(frequency).expect("a valid frequency");
    for name in names {
        let ping = Ping {
            frequency: Some(frequency.clone()),
            grace: None,
            at: None,
            want_job: false,
            ..Ping::new(name.clone())
        };
        backend
            .record_ping(ping, at(last_ping))
            .await
            .expect("in-memory pings never fail");
    }
}

fn frequency_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("frequency_parse");
    for form in ["30s", "5m", "1D", "1h30m", "1h 30m", "90sec", "2days", "1M"] {
        group.bench_with_input(BenchmarkId::from_parameter(form), form, |b, form| {
            b.iter(|| Frequency::parse(black_box(form)));
        });
    }
    group.finish();
}

fn record_ping(c: &mut Criterion) {
    let rt = runtime();
    let names = names(JOBS);
    let mut group = c.benchmark_group("record_ping");
    group.throughput(Throughput::Elements(1));

    // The steady state: a known job pings again, the frequency unchanged.
    let backend = LocalBackend::in_memory(options(), Wakers::default());
    rt.block_on(register(&backend, &names, "1h", NOW));
    group.bench_function("memory/known_job", |b| {
        let (backend, names) = (&backend, &names);
        let mut i = 0;
        b.to_async(&rt).iter(move || {
            i = (i + 1) % names.len();
            let ping = Ping {
                frequency: None,
                grace: None,
                at: None,
                want_job: false,
                ..Ping::new(names[i].clone())
            };
            async move { backend.record_ping(ping, at(NOW)).await }
        });
    });

    // A schedule job as the handler sees it: parse the name, the expression and the
    // zone, then record, a second later each time so that every ping computes its next
    // fire anew.
    let scheduled = LocalBackend::in_memory(options(), Wakers::default());
    rt.block_on(async {
        let schedule = Schedule::parse("0 3 * * 1-5", Some("Europe/Berlin")).expect("valid");
        for name in &names {
            let ping = Ping {
                schedule: Some(schedule.clone()),
                ..Ping::new(name.clone())
            };
            scheduled
                .record_ping(ping, at(NOW))
                .await
                .expect("in-memory pings never fail");
        }
    });
    let raw: Vec<String> = (0..JOBS).map(|i| format!("job-{i}")).collect();
    group.bench_function("memory/schedule_parse_and_record", |b| {
        let (backend, raw) = (&scheduled, &raw);
        let mut i = 0;
        b.to_async(&rt).iter(move || {
            i += 1;
            let ping = Ping {
                schedule: Some(
                    Schedule::parse("0 3 * * 1-5", Some("Europe/Berlin")).expect("valid"),
                ),
                ..Ping::new(JobName::parse(&raw[i % raw.len()]).expect("a valid name"))
            };
            let now = at(NOW + i64::try_from(i).unwrap_or(0));
            async move { backend.record_ping(ping, now).await }
        });
    });
    drop(raw);

    // What the handler does: parse the name and the frequency, then record.
    let raw: Vec<String> = (0..JOBS).map(|i| format!("job-{i}")).collect();
    group.bench_function("memory/parse_and_record", |b| {
        let (backend, raw) = (&backend, &raw);
        let mut i = 0;
        b.to_async(&rt).iter(move || {
            i = (i + 1) % raw.len();
            let ping = Ping {
                frequency: Some(Frequency::parse("1h").expect("a valid frequency")),
                grace: None,
                at: None,
                want_job: false,
                ..Ping::new(JobName::parse(&raw[i]).expect("a valid name"))
            };
            async move { backend.record_ping(ping, at(NOW)).await }
        });
    });

    // One ping at a time through the SQLite journal: each appends its own record with
    // one write(2) before it returns (the fold into SQLite runs on its own thread).
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite =
        LocalBackend::open_sqlite(&dir.path().join("bench.db"), options(), Wakers::default())
            .expect("the SQLite journal opens");
    rt.block_on(register(&sqlite, &names, "1h", NOW));
    group.bench_function("sqlite/known_job_sequential", |b| {
        let (backend, names) = (&sqlite, &names);
        let mut i = 0;
        b.to_async(&rt).iter(move || {
            i = (i + 1) % names.len();
            let ping = Ping {
                frequency: None,
                grace: None,
                at: None,
                want_job: false,
                ..Ping::new(names[i].clone())
            };
            async move { backend.record_ping(ping, at(NOW)).await }
        });
    });
    group.finish();
    rt.block_on(sqlite.close()).expect("the journal closes");
}

fn sweep(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("sweep_once");
    group.sample_size(10);

    // Every job missed its deadline: each is marked down and its alert queued.
    for due in [1_000, 10_000] {
        let names = names(due);
        group.throughput(Throughput::Elements(due as u64));
        group.bench_with_input(BenchmarkId::new("all_due", due), &due, |b, _| {
            b.iter_batched(
                || {
                    let backend = LocalBackend::in_memory(options(), Wakers::default());
                    rt.block_on(register(&backend, &names, "1m", NOW - 3_600));
                    backend
                },
                |backend| {
                    let raised = rt.block_on(sweep_once(&backend, at(NOW)));
                    assert_eq!(raised, names.len());
                    // Returned so that dropping 10,000 jobs is not part of the timing.
                    backend
                },
                BatchSize::PerIteration,
            );
        });
    }

    // Nothing is due: a sweep looks at the earliest wake-up only, never at every job.
    let names = names(JOBS);
    let backend = LocalBackend::in_memory(options(), Wakers::default());
    rt.block_on(register(&backend, &names, "1h", NOW));
    group.throughput(Throughput::Elements(1));
    group.sample_size(50);
    group.bench_function(BenchmarkId::new("none_due_of", JOBS), |b| {
        b.iter(|| rt.block_on(sweep_once(&backend, at(NOW))));
    });
    group.finish();
}

/// The cost of performance monitoring per request and per store operation: recording
/// a sample into the registry, and a request through the timing layer with timing on
/// and off (the difference is the layer's overhead; the rest is the harness).
fn perf(c: &mut Criterion) {
    use axum::http::{Method, Request, Response};
    use overdue::backend::StoreOp;
    use overdue::perf::{Perf, PerfSettings};
    use tower::{Layer, ServiceExt};

    let mut group = c.benchmark_group("perf");
    group.throughput(Throughput::Elements(1));
    let perf = Perf::new(PerfSettings::default());
    group.bench_function("record_request", |b| {
        b.iter(|| {
            perf.record_request(
                &Method::GET,
                Some(black_box("/ping")),
                200,
                black_box(Duration::from_micros(57)),
            )
        });
    });
    let timer = perf.store_timer();
    group.bench_function("store_timer_start_finish", |b| {
        b.iter(|| timer.finish(StoreOp::Upsert, black_box(timer.start())));
    });
    let rt = runtime();
    for enabled in [true, false] {
        let perf = Perf::new(PerfSettings {
            enabled,
            ..PerfSettings::default()
        });
        let service = perf
            .layer()
            .layer(tower::service_fn(|_: Request<()>| async {
                Ok::<_, std::convert::Infallible>(Response::new(()))
            }));
        let name = if enabled { "layer/on" } else { "layer/off" };
        group.bench_function(name, |b| {
            b.iter(|| {
                let request = Request::get("/ping?name=job-1")
                    .body(())
                    .expect("a request");
                rt.block_on(service.clone().oneshot(request))
            });
        });
    }
    group.finish();
}

/// What `/ping?schedule=&tz=` costs before the store: the expression and zone parsed.
fn schedule_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("schedule_parse");
    for expr in ["*/5 * * * *", "0 3 * * 1-5"] {
        group.bench_function(BenchmarkId::from_parameter(expr), |b| {
            b.iter(|| Schedule::parse(black_box(expr), black_box(Some("Europe/Berlin"))))
        });
    }
    group.finish();
}

/// A schedule job's deadline: the first fire time after its last ping (SPEC §11).
fn schedule_next_fire(c: &mut Criterion) {
    let mut group = c.benchmark_group("schedule_next_fire");
    for expr in ["*/5 * * * *", "0 3 * * 1-5"] {
        let schedule = Schedule::parse(expr, Some("Europe/Berlin")).expect("a valid schedule");
        let mut after = at(NOW);
        group.bench_function(BenchmarkId::from_parameter(expr), |b| {
            b.iter(|| {
                // A different instant each time, as pings arrive, spread over a week.
                after = at(NOW + (after.secs() - NOW + 7_919) % 604_800);
                black_box(schedule.next_after(black_box(after)))
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    frequency_parse,
    record_ping,
    sweep,
    perf,
    schedule_parse,
    schedule_next_fire
);
criterion_main!(benches);
