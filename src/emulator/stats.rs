//! Request counters served at `GET /_emulator/stats`: by method, route and
//! status, with batched requests counted apart from the HTTP requests that
//! carried them, and the quota units charged.

use std::collections::BTreeMap;

use serde::Serialize;

/// Counters since the emulator started.
#[derive(Debug, Default)]
pub(super) struct Stats {
    counts: BTreeMap<(bool, String, String, u16), u64>,
    dropped: u64,
}

/// One counter in the stats document.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row<'a> {
    method: &'a str,
    route: &'a str,
    status: u16,
    /// Whether these requests came inside a `$batch`.
    batched: bool,
    count: u64,
}

impl Stats {
    /// Counts a request.
    pub(super) fn record(&mut self, batched: bool, method: &str, route: &str, status: u16) {
        *self
            .counts
            .entry((batched, method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
    }

    /// Counts a dropped connection.
    pub(super) fn dropped(&mut self) {
        self.dropped += 1;
    }

    /// The stats document.
    pub(super) fn document(&self, writes: u64, resource_units: u64) -> serde_json::Value {
        let rows: Vec<Row<'_>> = self
            .counts
            .iter()
            .map(|((batched, method, route, status), count)| Row {
                method,
                route,
                status: *status,
                batched: *batched,
                count: *count,
            })
            .collect();
        let sum = |batched: bool, status: Option<u16>| -> u64 {
            self.counts
                .iter()
                .filter(|((inner, _, _, code), _)| {
                    *inner == batched && status.is_none_or(|status| status == *code)
                })
                .map(|(_, count)| count)
                .sum()
        };
        serde_json::json!({
            "httpRequests": sum(false, None),
            "batchedRequests": sum(true, None),
            "throttled": sum(false, Some(429)) + sum(true, Some(429)),
            "droppedConnections": self.dropped,
            "writesCharged": writes,
            "resourceUnitsCharged": resource_units,
            "requests": rows,
        })
    }
}
