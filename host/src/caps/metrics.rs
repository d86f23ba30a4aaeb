//! `gate:policy/metrics`: PromQL against the one Prometheus the run grants,
//! through its HTTP API (`/api/v1/query`, `/api/v1/query_range`).

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::http::{describe, exchange};
use crate::bindings::gate::policy::http::HttpError;
use crate::bindings::gate::policy::metrics::{
    Host, MetricsError, QueryResult, Sample, Series, StatusError,
};
use crate::grants::{Prometheus, PrometheusAuth};
use crate::state::{CallFailure, HostState};

impl Host for HostState {
    async fn query(
        &mut self,
        promql: String,
        time: Option<f64>,
    ) -> wasmtime::Result<Result<QueryResult, MetricsError>> {
        let now = unix_now();
        let at = time.unwrap_or(now);
        // On the tape, times are relative to the call, so a recording
        // replays at any later time. In whole seconds: the policy's `now()`
        // was read a moment before this host's, and that moment (longer on
        // a loaded machine) must not make a replay miss its recording.
        let mut key = json!({ "promql": promql });
        if let Some(time) = time {
            key["offset_s"] = json!((time - now).round());
        }
        let mut params = vec![("query", promql)];
        if let Some(time) = time {
            params.push(("time", time.to_string()));
        }
        self.prometheus("metrics.query", "query", &params, key, at)
            .await
    }

    async fn query_range(
        &mut self,
        promql: String,
        start: f64,
        end: f64,
        step: f64,
    ) -> wasmtime::Result<Result<QueryResult, MetricsError>> {
        if !(start.is_finite() && end.is_finite() && step.is_finite() && step > 0.0 && end >= start)
        {
            self.count_call()?;
            return Ok(Err(MetricsError::BadQuery(format!(
                "range query needs finite start <= end and step > 0 (got start {start}, end {end}, step {step})"
            ))));
        }
        let key = json!({
            "promql": promql,
            "range_s": round_ms(end - start),
            "step_s": round_ms(step),
        });
        let params = [
            ("query", promql),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("step", step.to_string()),
        ];
        self.prometheus("metrics.query_range", "query_range", &params, key, end)
            .await
    }
}

impl HostState {
    /// One Prometheus API call, through the tape; `at` is the time sample
    /// timestamps are kept relative to.
    async fn prometheus(
        &mut self,
        call: &'static str,
        endpoint: &str,
        params: &[(&str, String)],
        key: Value,
        at: f64,
    ) -> wasmtime::Result<Result<QueryResult, MetricsError>> {
        self.count_call()?;
        let Some(server) = self.session.grants.prometheus.clone() else {
            return Ok(Err(MetricsError::NotGranted(
                "no Prometheus is granted to this run: give its URL with --prometheus URL".into(),
            )));
        };
        let url = api_url(&server, endpoint, params);
        let started = Instant::now();
        let result = self
            .taped(
                call,
                move || key,
                async |state| {
                    MetricsAnswer::of(state.ask_prometheus(&server, url.clone()).await, at)
                },
            )
            .await?
            .into_result(at);
        let record = match &result {
            Ok(_) => Ok(200),
            Err(error) => Err(explain(error)),
        };
        // The record shows the PromQL as written, not percent-encoded.
        let mut shown = url.clone();
        shown.set_query(None);
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.record_call(
            "GET",
            format!("{shown}?{}", query.join("&")),
            started,
            record,
        );
        Ok(result)
    }

    async fn ask_prometheus(
        &mut self,
        server: &Prometheus,
        url: Url,
    ) -> Result<QueryResult, MetricsError> {
        let client = self.session.http().map_err(|why| {
            MetricsError::Unreachable(format!("Prometheus is unreachable: {why}"))
        })?;
        let mut builder = client.get(url);
        builder = match &server.auth {
            Some(PrometheusAuth::Bearer(token)) => builder.bearer_auth(token),
            Some(PrometheusAuth::Basic { user, password }) => {
                builder.basic_auth(user, Some(password))
            }
            None => builder,
        };
        let timeout = self.request_timeout(None);
        match exchange(builder, timeout, self.session.limits.response_bytes).await {
            Ok(response) if (300..400).contains(&response.status) => {
                Err(redirected(response.status, &response.headers))
            }
            Ok(response) => parse(response.status, &response.body),
            Err(error) => Err(transport(error)),
        }
    }
}

/// A redirect from Prometheus, said with where it points: gate does not
/// follow it (the credentials would go along to wherever it points), so
/// the operator gives `--prometheus` that URL instead.
fn redirected(status: u16, headers: &[(String, String)]) -> MetricsError {
    let message = match headers.iter().find(|(name, _)| name == "location") {
        Some((_, location)) => format!(
            "a redirect to `{location}`, which gate does not follow: give --prometheus the \
             URL it moved to"
        ),
        None => "a redirect without a Location, which gate does not follow".to_owned(),
    };
    MetricsError::Status(StatusError { status, message })
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// A metrics answer as a fixture holds it: `{"vector": [{"labels": {…},
/// "samples": [[t, v]]}]}`, `{"matrix": …}`, `{"scalar": [t, v]}` or
/// `{"error": {"unreachable": "…"}}`. `t` is seconds relative to the query's
/// time (0 = then, -60 = a minute before); `v` is a number or `"NaN"`,
/// `"+Inf"`, `"-Inf"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MetricsAnswer {
    Vector(Vec<SeriesAnswer>),
    Matrix(Vec<SeriesAnswer>),
    Scalar(SampleAnswer),
    Error(MetricsErrorAnswer),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesAnswer {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub samples: Vec<SampleAnswer>,
}

/// `[seconds relative to the query's time, value]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleAnswer(pub f64, pub PromValue);

/// A sample value (or a Docker stats percentage); non-finite ones are
/// written as Prometheus writes them, since JSON has no NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PromValue(pub f64);

impl Serialize for PromValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            v if v.is_nan() => serializer.serialize_str("NaN"),
            v if v == f64::INFINITY => serializer.serialize_str("+Inf"),
            v if v == f64::NEG_INFINITY => serializer.serialize_str("-Inf"),
            v => serializer.serialize_f64(v),
        }
    }
}

impl<'de> Deserialize<'de> for PromValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Number(n) => Ok(PromValue(n.as_f64().unwrap_or(f64::NAN))),
            Value::String(text) => prom_number(&text).map(PromValue).ok_or_else(|| {
                serde::de::Error::custom(format!("`{text}` is not a number, NaN, +Inf or -Inf"))
            }),
            other => Err(serde::de::Error::custom(format!(
                "{other} is not a sample value"
            ))),
        }
    }
}

/// `metrics-error`, as a fixture writes it: `{"unreachable": "…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricsErrorAnswer {
    NotGranted(String),
    Unreachable(String),
    BadQuery(String),
    Timeout(u32),
    Status { status: u16, message: String },
    InvalidResponse(String),
}

impl MetricsAnswer {
    fn of(result: Result<QueryResult, MetricsError>, at: f64) -> MetricsAnswer {
        let samples = |samples: Vec<Sample>| {
            samples
                .into_iter()
                .map(|s| SampleAnswer(round_ms(s.timestamp - at), PromValue(s.value)))
                .collect()
        };
        let series = |list: Vec<Series>| {
            list.into_iter()
                .map(|s| SeriesAnswer {
                    labels: s.labels.into_iter().collect(),
                    samples: samples(s.samples),
                })
                .collect()
        };
        match result {
            Ok(QueryResult::Vector(list)) => MetricsAnswer::Vector(series(list)),
            Ok(QueryResult::Matrix(list)) => MetricsAnswer::Matrix(series(list)),
            Ok(QueryResult::Scalar(sample)) => MetricsAnswer::Scalar(SampleAnswer(
                round_ms(sample.timestamp - at),
                PromValue(sample.value),
            )),
            Err(error) => MetricsAnswer::Error(match error {
                MetricsError::NotGranted(why) => MetricsErrorAnswer::NotGranted(why),
                MetricsError::Unreachable(why) => MetricsErrorAnswer::Unreachable(why),
                MetricsError::BadQuery(why) => MetricsErrorAnswer::BadQuery(why),
                MetricsError::Timeout(ms) => MetricsErrorAnswer::Timeout(ms),
                MetricsError::Status(StatusError { status, message }) => {
                    MetricsErrorAnswer::Status { status, message }
                }
                MetricsError::InvalidResponse(why) => MetricsErrorAnswer::InvalidResponse(why),
            }),
        }
    }

    fn into_result(self, at: f64) -> Result<QueryResult, MetricsError> {
        let sample = |s: SampleAnswer| Sample {
            timestamp: at + s.0,
            value: s.1.0,
        };
        let series = |list: Vec<SeriesAnswer>| {
            list.into_iter()
                .map(|s| Series {
                    labels: s.labels.into_iter().collect(),
                    samples: s.samples.into_iter().map(sample).collect(),
                })
                .collect()
        };
        match self {
            MetricsAnswer::Vector(list) => Ok(QueryResult::Vector(series(list))),
            MetricsAnswer::Matrix(list) => Ok(QueryResult::Matrix(series(list))),
            MetricsAnswer::Scalar(s) => Ok(QueryResult::Scalar(sample(s))),
            MetricsAnswer::Error(error) => Err(match error {
                MetricsErrorAnswer::NotGranted(why) => MetricsError::NotGranted(why),
                MetricsErrorAnswer::Unreachable(why) => MetricsError::Unreachable(why),
                MetricsErrorAnswer::BadQuery(why) => MetricsError::BadQuery(why),
                MetricsErrorAnswer::Timeout(ms) => MetricsError::Timeout(ms),
                MetricsErrorAnswer::Status { status, message } => {
                    MetricsError::Status(StatusError { status, message })
                }
                MetricsErrorAnswer::InvalidResponse(why) => MetricsError::InvalidResponse(why),
            }),
        }
    }
}

fn api_url(server: &Prometheus, endpoint: &str, params: &[(&str, String)]) -> Url {
    let mut url = server.url.clone();
    // `http://host:9090/prom` and `…/prom/` both mean the API under /prom.
    let base = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{base}/api/v1/{endpoint}"));
    url.query_pairs_mut()
        .clear()
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
    url
}

fn transport(error: HttpError) -> MetricsError {
    match error {
        HttpError::Timeout(ms) => MetricsError::Timeout(ms),
        HttpError::TooLarge(limit) => {
            MetricsError::InvalidResponse(format!("the answer is larger than {limit} bytes"))
        }
        other => MetricsError::Unreachable(format!(
            "Prometheus is unreachable: {}",
            describe(&other).text
        )),
    }
}

/// The one-line form kept in the check's record of requests.
pub fn explain(error: &MetricsError) -> CallFailure {
    let text = match error {
        MetricsError::NotGranted(why) => format!("denied: {why}"),
        MetricsError::Unreachable(why) => why.clone(),
        MetricsError::BadQuery(why) => format!("bad query: {why}"),
        MetricsError::Timeout(ms) => format!("timeout after {ms} ms"),
        MetricsError::Status(StatusError { status, message }) => {
            format!("status {status}: {message}")
        }
        MetricsError::InvalidResponse(why) => format!("invalid response: {why}"),
    };
    CallFailure {
        text,
        permanent: matches!(
            error,
            MetricsError::NotGranted(_) | MetricsError::BadQuery(_)
        ),
    }
}

/// Reads Prometheus's envelope: `{"status":"success","data":{…}}` or
/// `{"status":"error","errorType":…,"error":…}`.
pub(crate) fn parse(status: u16, body: &[u8]) -> Result<QueryResult, MetricsError> {
    let envelope: Value = serde_json::from_slice(body).map_err(|e| {
        if (200..300).contains(&status) {
            MetricsError::InvalidResponse(format!("not JSON: {e}"))
        } else {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            MetricsError::Status(StatusError {
                status,
                message: if text.trim().is_empty() {
                    "(an empty body)".to_owned()
                } else {
                    text
                },
            })
        }
    })?;
    if envelope["status"] != "success" {
        let message = envelope["error"]
            .as_str()
            .unwrap_or("no error message")
            .to_owned();
        // Only `bad_data` means the query itself is wrong. `execution` is
        // Prometheus's catch-all for evaluation failures, some of them
        // passing ("too many samples", duplicate series while old and new
        // pods overlap in a rollout), and its own `timeout` is not gate's:
        // both are a status a retry may get past.
        return Err(match envelope["errorType"].as_str() {
            Some("bad_data") => MetricsError::BadQuery(message),
            _ => MetricsError::Status(StatusError { status, message }),
        });
    }
    let data = &envelope["data"];
    let invalid =
        |what: &str| MetricsError::InvalidResponse(format!("{what} in {}", truncate_json(data)));
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("vector") => {
            let items = result
                .as_array()
                .ok_or_else(|| invalid("vector is not a list"))?;
            let series = items
                .iter()
                .map(|item| {
                    Ok(Series {
                        labels: labels(&item["metric"]),
                        samples: vec![sample(&item["value"]).ok_or_else(|| invalid("bad sample"))?],
                    })
                })
                .collect::<Result<_, MetricsError>>()?;
            Ok(QueryResult::Vector(series))
        }
        Some("matrix") => {
            let items = result
                .as_array()
                .ok_or_else(|| invalid("matrix is not a list"))?;
            let series = items
                .iter()
                .map(|item| {
                    let values = item["values"]
                        .as_array()
                        .ok_or_else(|| invalid("series without values"))?;
                    let samples = values
                        .iter()
                        .map(|v| sample(v).ok_or_else(|| invalid("bad sample")))
                        .collect::<Result<_, _>>()?;
                    Ok(Series {
                        labels: labels(&item["metric"]),
                        samples,
                    })
                })
                .collect::<Result<_, MetricsError>>()?;
            Ok(QueryResult::Matrix(series))
        }
        Some("scalar") => Ok(QueryResult::Scalar(
            sample(result).ok_or_else(|| invalid("bad scalar"))?,
        )),
        Some(other) => Err(MetricsError::InvalidResponse(format!(
            "result type `{other}` is not supported: query for a number"
        ))),
        None => Err(invalid("no resultType")),
    }
}

fn labels(metric: &Value) -> Vec<(String, String)> {
    metric
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// `[1700000000.123, "0.5"]`; values are strings so NaN and ±Inf survive.
fn sample(value: &Value) -> Option<Sample> {
    let pair = value.as_array().filter(|pair| pair.len() == 2)?;
    let timestamp = pair[0].as_f64()?;
    let value = prom_number(pair[1].as_str()?)?;
    Some(Sample { timestamp, value })
}

/// A number as Prometheus writes it: decimal, `NaN`, `+Inf`, `-Inf`.
fn prom_number(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        number => number.parse().ok(),
    }
}

fn truncate_json(value: &Value) -> String {
    crate::text::truncate(&value.to_string(), 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> QueryResult {
        parse(200, body.as_bytes()).unwrap()
    }

    #[test]
    fn parses_result_types() {
        let vector = ok(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"svc"},"value":[1700000000.5,"0.25"]}]}}"#,
        );
        let QueryResult::Vector(series) = vector else {
            panic!("not a vector")
        };
        assert_eq!(series[0].labels, [("job".to_owned(), "svc".to_owned())]);
        assert_eq!(
            (series[0].samples[0].timestamp, series[0].samples[0].value),
            (1700000000.5, 0.25)
        );

        let matrix = ok(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"NaN"],[3,"+Inf"]]}]}}"#,
        );
        let QueryResult::Matrix(series) = matrix else {
            panic!("not a matrix")
        };
        let values: Vec<f64> = series[0].samples.iter().map(|s| s.value).collect();
        assert_eq!(values[0], 1.0);
        assert!(values[1].is_nan());
        assert_eq!(values[2], f64::INFINITY);

        let scalar = ok(r#"{"status":"success","data":{"resultType":"scalar","result":[5,"3"]}}"#);
        assert!(matches!(scalar, QueryResult::Scalar(Sample { value, .. }) if value == 3.0));
    }

    #[test]
    fn maps_errors() {
        let bad = parse(
            400,
            br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#,
        );
        assert!(matches!(bad, Err(MetricsError::BadQuery(m)) if m == "parse error at char 5"));
        for (status, kind, said) in [
            (
                422,
                "execution",
                "found duplicate series for the match group",
            ),
            (503, "timeout", "query timed out in query execution"),
        ] {
            let body = format!(r#"{{"status":"error","errorType":"{kind}","error":"{said}"}}"#);
            let error = parse(status, body.as_bytes()).unwrap_err();
            assert!(
                !explain(&error).permanent,
                "{kind}: a retry may get past it"
            );
            assert!(
                matches!(&error, MetricsError::Status(e) if e.status == status && e.message == said),
                "{error:?}"
            );
        }
        let unavailable = parse(503, b"<html>down</html>");
        assert!(matches!(
            unavailable,
            Err(MetricsError::Status(StatusError { status: 503, .. }))
        ));
        let empty = parse(502, b"");
        assert!(matches!(
            empty,
            Err(MetricsError::Status(StatusError { status: 502, message })) if message == "(an empty body)"
        ));
        let headers = [("location".to_owned(), "https://prom.example/".to_owned())];
        let MetricsError::Status(moved) = redirected(301, &headers) else {
            panic!("a redirect is a status error")
        };
        assert_eq!(moved.status, 301);
        assert!(
            moved.message.contains("`https://prom.example/`"),
            "{}",
            moved.message
        );
        assert!(moved.message.contains("--prometheus"), "{}", moved.message);
        let garbage = parse(200, b"{}");
        assert!(matches!(
            garbage,
            Err(MetricsError::Status(_) | MetricsError::InvalidResponse(_))
        ));
        let string = parse(
            200,
            br#"{"status":"success","data":{"resultType":"string","result":[1,"x"]}}"#,
        );
        assert!(matches!(string, Err(MetricsError::InvalidResponse(_))));
    }

    #[test]
    fn api_urls() {
        let server = |url: &str| Prometheus {
            url: Url::parse(url).unwrap(),
            auth: None,
        };
        let params = [("query", "up == 0".to_owned())];
        assert_eq!(
            api_url(&server("http://127.0.0.1:9090"), "query", &params).as_str(),
            "http://127.0.0.1:9090/api/v1/query?query=up+%3D%3D+0"
        );
        assert_eq!(
            api_url(&server("http://p:9090/prom/"), "query_range", &[]).as_str(),
            "http://p:9090/prom/api/v1/query_range?"
        );
    }
}
