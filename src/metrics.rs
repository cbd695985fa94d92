//! Prometheus metrics for /metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
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
    pub verify_seconds: Histogram,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub usage_flushes: Family<ResultLabel, Counter>,
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
        let verify_seconds = Histogram::new(buckets);
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
