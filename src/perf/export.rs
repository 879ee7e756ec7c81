//! `GET /metrics`: the registry in the Prometheus text exposition format (0.0.4).
//!
//! Counters and histograms run since start, as Prometheus expects (it computes rates and
//! windows itself); the histogram buckets are fixed, so several replicas can be summed.

use std::fmt::Write as _;

use super::histogram::{CumulativeSnapshot, PROM_BOUNDS_TEXT};
use super::{Perf, OUTCOMES};
use crate::backend::{Counts, StoreOp};
use crate::domain::Status;

/// The gauges that come from the backend, read by the handler before exporting;
/// `None` when the store could not answer (the sample is then left out).
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub services: Option<Counts>,
    pub backlog: Option<usize>,
}

/// Prometheus's content type for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Perf {
    /// The Prometheus text exposition of everything measured, plus `gauges` and a few
    /// process metrics read from `/proc` (left out where there is none).
    pub fn prometheus(&self, gauges: Gauges) -> String {
        let registry = &*self.0;
        let mut out = String::with_capacity(16 * 1024);

        family(
            &mut out,
            "overdue_pings_total",
            "counter",
            "Pings recorded (2xx answers to /ping) since start.",
        );
        sample(&mut out, "overdue_pings_total", "", self.pings_total());

        let mut routes: Vec<_> = registry.routes.entries().collect();
        routes.sort_by(|a, b| a.key.cmp(&b.key));
        family(
            &mut out,
            "overdue_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route template and status.",
        );
        for entry in &routes {
            for (status, n) in entry.status_counts() {
                let labels = format!(
                    "method=\"{}\",route=\"{}\",status=\"{status}\"",
                    entry.method,
                    escape(&entry.route)
                );
                sample(&mut out, "overdue_http_requests_total", &labels, n);
            }
        }
        family(
            &mut out,
            "overdue_http_request_duration_seconds",
            "histogram",
            "Time to answer an HTTP request, by method and route template.",
        );
        for entry in &routes {
            let labels = format!(
                "method=\"{}\",route=\"{}\"",
                entry.method,
                escape(&entry.route)
            );
            histogram(
                &mut out,
                "overdue_http_request_duration_seconds",
                &labels,
                &entry.series.total.snapshot(),
            );
        }

        family(
            &mut out,
            "overdue_store_operation_duration_seconds",
            "histogram",
            "Time of a store operation, by operation.",
        );
        for op in StoreOp::ALL {
            let labels = format!("op=\"{}\"", op.as_str());
            histogram(
                &mut out,
                "overdue_store_operation_duration_seconds",
                &labels,
                &registry.store[op as usize].total.snapshot(),
            );
        }

        let deliveries: Vec<_> = OUTCOMES
            .iter()
            .zip(&registry.alerts)
            .map(|(outcome, series)| (outcome.as_str(), series.total.snapshot()))
            .collect();
        family(
            &mut out,
            "overdue_alert_deliveries_total",
            "counter",
            "Alert delivery attempts, by outcome.",
        );
        for (outcome, snapshot) in &deliveries {
            let labels = format!("outcome=\"{outcome}\"");
            sample(
                &mut out,
                "overdue_alert_deliveries_total",
                &labels,
                snapshot.count(),
            );
        }
        family(
            &mut out,
            "overdue_alert_delivery_duration_seconds",
            "histogram",
            "Time of an alert delivery attempt, by outcome.",
        );
        for (outcome, snapshot) in &deliveries {
            let labels = format!("outcome=\"{outcome}\"");
            histogram(
                &mut out,
                "overdue_alert_delivery_duration_seconds",
                &labels,
                snapshot,
            );
        }

        family(
            &mut out,
            "overdue_channel_deliveries_total",
            "counter",
            "Alert delivery attempts, by channel (kind:host) and outcome.",
        );
        for (channel, outcome, count) in self.channel_attempts() {
            let labels = format!("channel=\"{}\",outcome=\"{outcome}\"", escape(&channel));
            sample(&mut out, "overdue_channel_deliveries_total", &labels, count);
        }

        family(
            &mut out,
            "overdue_services",
            "gauge",
            "Monitored jobs, by status.",
        );
        if let Some(counts) = gauges.services {
            let up = counts.with_status(Some(Status::Up));
            sample(&mut out, "overdue_services", "status=\"up\"", up);
            sample(&mut out, "overdue_services", "status=\"down\"", counts.down);
            sample(
                &mut out,
                "overdue_services",
                "status=\"paused\"",
                counts.paused,
            );
        }
        family(
            &mut out,
            "overdue_alert_backlog",
            "gauge",
            "Alerts waiting for delivery.",
        );
        if let Some(backlog) = gauges.backlog {
            sample(&mut out, "overdue_alert_backlog", "", backlog);
        }
        family(
            &mut out,
            "overdue_perf_enabled",
            "gauge",
            "1 while requests, store operations and deliveries are timed.",
        );
        sample(
            &mut out,
            "overdue_perf_enabled",
            "",
            u8::from(self.enabled()),
        );
        self.process_metrics(&mut out);
        out
    }

    fn process_metrics(&self, out: &mut String) {
        let start = self.0.clock.origin_unix_us as f64 / 1e6;
        family(
            out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
        );
        sample(out, "process_start_time_seconds", "", start);
        let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
            return;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
        };
        if let Some(kib) = field("VmRSS:") {
            family(
                out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
            );
            sample(out, "process_resident_memory_bytes", "", kib * 1024);
        }
        if let Some(kib) = field("VmSize:") {
            family(
                out,
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
            );
            sample(out, "process_virtual_memory_bytes", "", kib * 1024);
        }
        if let Some(threads) = field("Threads:") {
            family(
                out,
                "process_threads",
                "gauge",
                "OS threads of the process.",
            );
            sample(out, "process_threads", "", threads);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            family(
                out,
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
            );
            sample(out, "process_open_fds", "", fds.count());
        }
        // Tasks alive in the runtime that serves this request: connections, deliveries
        // in flight and the background tasks. A soak test watches it for leaks.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            family(
                out,
                "overdue_tokio_tasks",
                "gauge",
                "Tasks alive in the async runtime.",
            );
            sample(
                out,
                "overdue_tokio_tasks",
                "",
                runtime.metrics().num_alive_tasks(),
            );
        }
        // utime and stime, fields 14 and 15 of /proc/self/stat, counted in USER_HZ,
        // which Linux fixes at 100 for user space.
        let cpu = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|stat| {
                let after_name = stat.rsplit_once(')')?.1;
                let fields: Vec<&str> = after_name.split_whitespace().collect();
                let utime: u64 = fields.get(11)?.parse().ok()?;
                let stime: u64 = fields.get(12)?.parse().ok()?;
                Some((utime + stime) as f64 / 100.0)
            });
        if let Some(seconds) = cpu {
            family(
                out,
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
            );
            sample(out, "process_cpu_seconds_total", "", seconds);
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// A histogram's `_bucket` lines (cumulative, ending with `+Inf`), `_sum` and `_count`.
/// A series with no sample yet is left out.
fn histogram(out: &mut String, name: &str, labels: &str, snapshot: &CumulativeSnapshot) {
    if snapshot.count() == 0 {
        return;
    }
    let le = PROM_BOUNDS_TEXT.iter().copied().chain(["+Inf"]);
    for (bound, count) in le.zip(&snapshot.buckets) {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "{name}_sum{{{labels}}} {}",
        snapshot.sum_ns as f64 / 1e9
    );
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", snapshot.count());
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return value.into();
    }
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::PerfSettings;
    use axum::http::Method;
    use std::time::{Duration, Instant};

    #[test]
    fn histograms_are_cumulative_and_labelled_by_template() {
        let p = Perf::new(PerfSettings::default());
        let index = p.route_index(&Method::GET, Some("/ping/{name}"));
        for us in [3, 30, 300, 3_000] {
            p.finish_request(index, 404, Duration::from_micros(us), Instant::now());
        }
        let text = p.prometheus(Gauges {
            services: Some(Counts {
                total: 6,
                down: 2,
                paused: 1,
            }),
            backlog: Some(7),
        });
        assert!(text.contains(
            "overdue_http_requests_total{method=\"GET\",route=\"/ping/{name}\",status=\"404\"} 4\n"
        ));
        assert!(text.contains(
            "overdue_http_request_duration_seconds_bucket{method=\"GET\",route=\"/ping/{name}\",le=\"0.000005\"} 1\n"
        ));
        assert!(text.contains(
            "overdue_http_request_duration_seconds_bucket{method=\"GET\",route=\"/ping/{name}\",le=\"+Inf\"} 4\n"
        ));
        assert!(text.contains(
            "overdue_http_request_duration_seconds_count{method=\"GET\",route=\"/ping/{name}\"} 4\n"
        ));
        assert!(text.contains(
            "overdue_http_request_duration_seconds_sum{method=\"GET\",route=\"/ping/{name}\"} 0.003333\n"
        ));
        assert!(text.contains("overdue_services{status=\"up\"} 3\n"));
        assert!(text.contains("overdue_services{status=\"paused\"} 1\n"));
        assert!(text.contains("overdue_alert_backlog 7\n"));
        assert!(text.contains("overdue_alert_deliveries_total{outcome=\"gave_up\"} 0\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("/a\"b\\c\nd"), "/a\\\"b\\\\c\\nd");
        assert_eq!(escape("/ping"), "/ping");
    }
}
