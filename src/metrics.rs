//! Prometheus metrics for /metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::verify::Code;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: &'static str,
}

impl From<Code> for CodeLabel {
    fn from(code: Code) -> Self {
        Self {
            code: code.as_str(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

pub struct Metrics {
    registry: Registry,
    /// The family's counters resolved once, so the hot path takes no lock to find one.
    by_code: Vec<Counter>,
    pub verify_seconds: LatencyHistogram,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub usage_flushes: Family<ResultLabel, Counter>,
    /// 1 while the node hears change notices (and so serves key state from memory).
    pub key_cache_listening: Gauge,
    /// Cached keys dropped because their row changed without a notice reaching this node.
    pub key_cache_stale: Counter,
    /// Statements that reserve or give back slices of cluster-wide budgets.
    pub budget_reservations: Counter,
    /// Webhook deliveries waiting to be sent or retried, and those that failed for good
    /// (the whole cluster's, as this node last counted them).
    pub webhook_deliveries_pending: Gauge,
    pub webhook_deliveries_failed: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("keyward");
        let verifications = Family::<CodeLabel, Counter>::default();
        let buckets = [
            0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01,
            0.05, 0.25,
        ];
        let verify_seconds = LatencyHistogram::new(&buckets);
        let cache_hits = Counter::default();
        let cache_misses = Counter::default();
        let usage_flushes = Family::<ResultLabel, Counter>::default();
        registry.register(
            "verifications",
            "Key verifications by outcome code",
            verifications.clone(),
        );
        registry.register(
            "verify_duration_seconds",
            "Server-side handling time of POST /api/v1/keys/verify",
            verify_seconds.clone(),
        );
        registry.register(
            "key_cache_hits",
            "Verifications answered from memory",
            cache_hits.clone(),
        );
        registry.register(
            "key_cache_misses",
            "Verifications that read key state from PostgreSQL",
            cache_misses.clone(),
        );
        registry.register(
            "usage_flushes",
            "Batched usage writes by result",
            usage_flushes.clone(),
        );
        let key_cache_listening = Gauge::default();
        registry.register(
            "key_cache_listening",
            "1 while this node hears key change notices and serves key state from memory",
            key_cache_listening.clone(),
        );
        let key_cache_stale = Counter::default();
        registry.register(
            "key_cache_stale_dropped",
            "Cached keys dropped by revalidation: their row changed without a notice reaching this node",
            key_cache_stale.clone(),
        );
        let budget_reservations = Counter::default();
        registry.register(
            "budget_reservations",
            "SQL statements that reserve or give back slices of cluster-wide rate limits and quotas",
            budget_reservations.clone(),
        );
        let webhook_deliveries_pending = Gauge::default();
        registry.register(
            "webhook_deliveries_pending",
            "Webhook deliveries waiting to be sent or retried (whole cluster)",
            webhook_deliveries_pending.clone(),
        );
        let webhook_deliveries_failed = Gauge::default();
        registry.register(
            "webhook_deliveries_failed",
            "Webhook deliveries that failed every try (whole cluster, last 30 days)",
            webhook_deliveries_failed.clone(),
        );
        let by_code = Code::ALL
            .iter()
            .map(|c| verifications.get_or_create(&(*c).into()).clone())
            .collect();
        Self {
            registry,
            by_code,
            verify_seconds,
            cache_hits,
            cache_misses,
            usage_flushes,
            key_cache_listening,
            key_cache_stale,
            budget_reservations,
            webhook_deliveries_pending,
            webhook_deliveries_failed,
        }
    }

    pub fn count_verification(&self, code: Code) {
        if let Some(counter) = self.by_code.get(code as usize) {
            counter.inc();
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// A lock-free histogram of durations. Every verification observes it, and
/// prometheus-client's Histogram takes a mutex per observation, which two busy workers
/// measurably contend on.
#[derive(Debug, Clone)]
pub struct LatencyHistogram(Arc<LatencyInner>);

#[derive(Debug)]
struct LatencyInner {
    /// Upper bounds in seconds, ascending; one more count than bounds, for +Inf.
    bounds: Vec<f64>,
    counts: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    pub fn new(bounds: &[f64]) -> Self {
        Self(Arc::new(LatencyInner {
            bounds: bounds.to_vec(),
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }))
    }

    pub fn observe(&self, elapsed: Duration) {
        let inner = &self.0;
        let seconds = elapsed.as_secs_f64();
        let index = inner
            .bounds
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(inner.bounds.len());
        if let Some(count) = inner.counts.get(index) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        inner.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let inner = &self.0;
        let buckets: Vec<(f64, u64)> = inner
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(inner.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latency_histogram_renders_cumulative_prometheus_buckets() {
        let metrics = Metrics::new();
        metrics.verify_seconds.observe(Duration::from_micros(5));
        metrics.verify_seconds.observe(Duration::from_micros(30));
        metrics.verify_seconds.observe(Duration::from_secs(1));
        let text = metrics.render();
        assert!(
            text.contains(r#"keyward_verify_duration_seconds_bucket{le="0.00001"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"keyward_verify_duration_seconds_bucket{le="0.00005"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"keyward_verify_duration_seconds_bucket{le="+Inf"} 3"#),
            "{text}"
        );
        assert!(
            text.contains("keyward_verify_duration_seconds_count 3"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE keyward_verify_duration_seconds histogram"),
            "{text}"
        );
    }
}
