//! Prometheus's HTTP query API (prometheus.io/docs/prometheus/latest/querying/api): an instant query answers
//! `{"status":"success","data":{"resultType":"vector","result":[{"metric":{…},"value":[t,"v"]}]}}`, and
//! `/api/v1/targets` says why a target is down (`lastError`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::super::expo::{parse_value, Sample};

#[derive(Deserialize)]
struct Answer<T> {
    status: String,
    // Absent in an error answer; serde reads a missing Option as None.
    data: Option<T>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Vector {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<Series>,
}

#[derive(Deserialize)]
struct Series {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// The samples of an instant query's vector answer, `__name__` as the name; an error answer or another result
/// type is an error in words.
pub fn parse_vector(body: &str) -> Result<Vec<Sample>, String> {
    let answer: Answer<Vector> =
        serde_json::from_str(body).map_err(|e| format!("not a Prometheus query answer: {e}"))?;
    let data = ok_data(answer)?;
    if data.result_type != "vector" {
        return Err(format!("expected a vector, got a {}", data.result_type));
    }
    Ok(data
        .result
        .into_iter()
        .filter_map(|mut s| {
            let value = parse_value(&s.value.1)?;
            let name = s.metric.remove("__name__").unwrap_or_default();
            Some(Sample {
                name,
                labels: s.metric.into_iter().collect(),
                value,
            })
        })
        .collect())
}

fn ok_data<T>(answer: Answer<T>) -> Result<T, String> {
    if answer.status != "success" {
        return Err(format!(
            "Prometheus answered {}: {}",
            answer.status,
            answer.error.unwrap_or_default()
        ));
    }
    answer
        .data
        .ok_or_else(|| "Prometheus answered without data".to_string())
}

#[derive(Deserialize)]
struct Targets {
    #[serde(rename = "activeTargets")]
    active_targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    labels: BTreeMap<String, String>,
    health: String,
    #[serde(rename = "lastError", default)]
    last_error: String,
}

/// Why each unhealthy target is down, by its `instance` label.
pub fn parse_down_targets(body: &str) -> Result<BTreeMap<String, String>, String> {
    let answer: Answer<Targets> =
        serde_json::from_str(body).map_err(|e| format!("not a Prometheus targets answer: {e}"))?;
    Ok(ok_data(answer)?
        .active_targets
        .into_iter()
        .filter(|t| t.health != "up")
        .filter_map(|t| {
            let instance = t.labels.get("instance")?.clone();
            let why = if t.last_error.is_empty() {
                format!("Prometheus reports the target {}", t.health)
            } else {
                t.last_error
            };
            Some((instance, why))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_targets_and_errors() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","instance":"a:1","job":"x"},"value":[1700000000.5,"1"]},
            {"metric":{"__name__":"up","instance":"b:1","job":"x"},"value":[1700000000.5,"0"]}]}}"#;
        let v = parse_vector(body).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[1].name.as_str(), v[1].label("instance"), v[1].value),
            ("up", Some("b:1"), 0.0)
        );
        let err =
            parse_vector(r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#)
                .unwrap_err();
        assert!(err.contains("parse error"), "{err}");
        assert!(
            parse_vector(r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#)
                .is_err()
        );
        assert!(parse_vector("<html>")
            .unwrap_err()
            .starts_with("not a Prometheus"));
        let targets = r#"{"status":"success","data":{"activeTargets":[
            {"labels":{"instance":"a:1"},"health":"up","lastError":""},
            {"labels":{"instance":"b:1"},"health":"down","lastError":"connection refused"}],"droppedTargets":[]}}"#;
        let down = parse_down_targets(targets).unwrap();
        assert_eq!(down.len(), 1);
        assert_eq!(down["b:1"], "connection refused");
    }
}
