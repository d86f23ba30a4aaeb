//! `gate:policy/metrics`: PromQL against the one Prometheus the run grants,
//! through its HTTP API (`/api/v1/query`, `/api/v1/query_range`).

use std::time::Instant;

use serde_json::Value;
use url::Url;

use super::http::{describe, exchange};
use crate::bindings::gate::policy::http::HttpError;
use crate::bindings::gate::policy::metrics::{
    Host, MetricsError, QueryResult, Sample, Series, StatusError,
};
use crate::grants::{Prometheus, PrometheusAuth};
use crate::state::HostState;

impl Host for HostState {
    async fn query(
        &mut self,
        promql: String,
        time: Option<f64>,
    ) -> wasmtime::Result<Result<QueryResult, MetricsError>> {
        let mut params = vec![("query", promql)];
        if let Some(time) = time {
            params.push(("time", time.to_string()));
        }
        self.prometheus("query", &params).await
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
            return Ok(Err(MetricsError::BadQuery(format!(
                "range query needs finite start <= end and step > 0 (got start {start}, end {end}, step {step})"
            ))));
        }
        let params = [
            ("query", promql),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("step", step.to_string()),
        ];
        self.prometheus("query_range", &params).await
    }
}

impl HostState {
    async fn prometheus(
        &mut self,
        endpoint: &str,
        params: &[(&str, String)],
    ) -> wasmtime::Result<Result<QueryResult, MetricsError>> {
        self.count_call()?;
        let Some(server) = self.session.grants.prometheus.clone() else {
            return Ok(Err(MetricsError::NotGranted(
                "no Prometheus is granted to this run: give its URL with --prometheus URL".into(),
            )));
        };
        let url = api_url(&server, endpoint, params);
        let mut builder = self.session.http.get(url.clone());
        builder = match &server.auth {
            Some(PrometheusAuth::Bearer(token)) => builder.bearer_auth(token),
            Some(PrometheusAuth::Basic { user, password }) => {
                builder.basic_auth(user, Some(password))
            }
            None => builder,
        };
        let started = Instant::now();
        let timeout = self.request_timeout(None);
        let answer = exchange(builder, timeout, self.session.limits.response_bytes).await;
        let result = match answer {
            Ok(response) => parse(response.status, &response.body),
            Err(error) => Err(transport(error)),
        };
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
        other => {
            MetricsError::Unreachable(format!("Prometheus is unreachable: {}", describe(&other)))
        }
    }
}

/// The one-line form kept in the check's record of requests.
pub fn explain(error: &MetricsError) -> String {
    match error {
        MetricsError::NotGranted(why) => format!("denied: {why}"),
        MetricsError::Unreachable(why) => why.clone(),
        MetricsError::BadQuery(why) => format!("bad query: {why}"),
        MetricsError::Timeout(ms) => format!("timeout after {ms} ms"),
        MetricsError::Status(StatusError { status, message }) => {
            format!("status {status}: {message}")
        }
        MetricsError::InvalidResponse(why) => format!("invalid response: {why}"),
    }
}

/// Reads Prometheus's envelope: `{"status":"success","data":{…}}` or
/// `{"status":"error","errorType":…,"error":…}`.
fn parse(status: u16, body: &[u8]) -> Result<QueryResult, MetricsError> {
    let envelope: Value = serde_json::from_slice(body).map_err(|e| {
        if (200..300).contains(&status) {
            MetricsError::InvalidResponse(format!("not JSON: {e}"))
        } else {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            MetricsError::Status(StatusError {
                status,
                message: text,
            })
        }
    })?;
    if envelope["status"] != "success" {
        let message = envelope["error"]
            .as_str()
            .unwrap_or("no error message")
            .to_owned();
        return Err(match envelope["errorType"].as_str() {
            Some("bad_data") | Some("execution") => MetricsError::BadQuery(message),
            Some("timeout") | Some("canceled") => MetricsError::Timeout(0),
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
    let value = match pair[1].as_str()? {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        number => number.parse().ok()?,
    };
    Some(Sample { timestamp, value })
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
        let unavailable = parse(503, b"<html>down</html>");
        assert!(matches!(
            unavailable,
            Err(MetricsError::Status(StatusError { status: 503, .. }))
        ));
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
