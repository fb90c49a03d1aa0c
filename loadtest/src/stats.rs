//! Summaries of timing samples: we publish medians and percentiles, never
//! single runs.

use serde::Serialize;

/// Milliseconds, summarised.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub samples: usize,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub min_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    pub fn of(samples_ms: &[f64]) -> Summary {
        assert!(!samples_ms.is_empty(), "a summary needs samples");
        let mut sorted = samples_ms.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        Summary {
            samples: sorted.len(),
            median_ms: round(at(0.5)),
            p90_ms: round(at(0.9)),
            p99_ms: round(at(0.99)),
            min_ms: round(sorted[0]),
            mean_ms: round(sorted.iter().sum::<f64>() / sorted.len() as f64),
        }
    }
}

/// Three significant decimals are plenty for milliseconds.
pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
