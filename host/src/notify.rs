//! Posting a decision to a chat webhook (`--webhook URL`). The body carries
//! both `text` (Slack) and `content` (Discord), so one URL of either works.
//! A failed post is reported, retried a few times, and never changes the
//! decision.

use std::time::Duration;

/// Attempts per post, and the pause before each retry.
const BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];
/// Time allowed for one attempt.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Discord refuses `content` over 2000 characters.
const MAX_TEXT: usize = 1900;

/// The JSON body both Slack and Discord incoming webhooks accept. The text
/// holds names a policy chose (checks, measurements), so it must not ping
/// anyone: Discord is told to parse no mentions (`@everyone`), and Slack's
/// control characters are escaped as its docs ask (`<!channel>`,
/// `<https://…|a link>`).
pub fn payload(text: &str) -> serde_json::Value {
    let text = crate::text::truncate(text, MAX_TEXT);
    let slack = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    serde_json::json!({
        "text": slack,
        "content": text,
        "allowed_mentions": { "parse": [] },
    })
}

/// Posts `text`; `Err` says why the last attempt failed.
pub async fn post(client: &reqwest::Client, url: &url::Url, text: &str) -> Result<(), String> {
    let body = payload(text);
    let mut last = String::new();
    for attempt in 0..=BACKOFF.len() {
        if attempt > 0 {
            tokio::time::sleep(BACKOFF[attempt - 1]).await;
        }
        let sent = client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .timeout(TIMEOUT)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return Ok(()),
            // A client error will not get better by retrying.
            Ok(response) if response.status().is_client_error() && response.status() != 429 => {
                return Err(format!("the webhook answered {}", response.status()));
            }
            // Nor will a redirect, which is not followed: the URL is a
            // credential, and where it points is not the operator's choice.
            Ok(response) if response.status().is_redirection() => {
                return Err(format!(
                    "the webhook answered {}, a redirect, which gate does not follow: give \
                     the webhook's current URL",
                    response.status()
                ));
            }
            Ok(response) => last = format!("the webhook answered {}", response.status()),
            Err(error) => {
                last = format!(
                    "cannot post to the webhook: {}",
                    crate::caps::http::failure_text(error)
                )
            }
        }
        tracing::debug!(attempt, %last, "webhook post failed");
    }
    Err(format!("{last} (after {} attempts)", BACKOFF.len() + 1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn payload_suits_slack_and_discord() {
        let body = super::payload("rollback: prod");
        assert_eq!(body["text"], "rollback: prod");
        assert_eq!(body["content"], "rollback: prod");
        let long = super::payload(&"x".repeat(5000));
        assert!(long["content"].as_str().unwrap().len() < 2000);
    }

    #[test]
    fn a_policys_names_ping_no_one() {
        let body = super::payload("fail: p/@everyone <!channel> <https://x.example|ok> & more");
        assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
        assert_eq!(
            body["text"],
            "fail: p/@everyone &lt;!channel&gt; &lt;https://x.example|ok&gt; &amp; more"
        );
        assert_eq!(
            body["content"],
            "fail: p/@everyone <!channel> <https://x.example|ok> & more"
        );
    }
}
