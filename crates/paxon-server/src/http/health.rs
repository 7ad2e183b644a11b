//! etcd's `/health`, `/livez` and `/readyz`: `{"health":"true","reason":""}`
//! with 200, or `"false"` and a reason with 503.
//!
//! As etcd 3.5 decides: an active alarm (unless excluded with
//! `?exclude=NOSPACE`; `/livez` always excludes NOSPACE) is unhealthy;
//! `/health` also needs a known leader (unless `?serializable=true`);
//! then a one-key Range must succeed, linearizable unless
//! `?serializable=true`.

use paxon_kv::RangeRequest;

use crate::grpc::Handle;
use crate::member::ClientOp;

/// Which of the three endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// `/health`: alarms, leader, a Range.
    Health,
    /// `/livez`: alarms other than NOSPACE, a Range.
    Livez,
    /// `/readyz`: alarms, a Range.
    Readyz,
}

/// The query string's options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `exclude=ALARM` (repeatable): alarms that do not count.
    pub exclude: Vec<String>,
    /// `serializable=true`: this member's view, no quorum needed.
    pub serializable: bool,
}

impl Options {
    /// Parses `exclude=NOSPACE&serializable=true`.
    pub fn parse(query: Option<&str>) -> Options {
        let mut options = Options::default();
        for pair in query.unwrap_or_default().split('&') {
            match pair.split_once('=') {
                Some(("exclude", alarm)) if !alarm.is_empty() => {
                    options.exclude.push(alarm.to_string());
                }
                Some(("serializable", value)) => options.serializable = value == "true",
                _ => {}
            }
        }
        options
    }
}

/// The verdict: healthy, or why not.
pub type Verdict = Result<(), String>;

/// Runs the checks of `probe`.
pub async fn check(handle: &Handle, probe: Probe, options: &Options) -> Verdict {
    let status = handle
        .member_status()
        .await
        .map_err(|e| format!("RANGE ERROR:{}", e.message()))?;
    let mut exclude = options.exclude.clone();
    if probe == Probe::Livez {
        exclude.push("NOSPACE".into());
    }
    if let Some(alarm) = status
        .alarms
        .iter()
        .find(|a| !exclude.iter().any(|e| e == a.alarm.name()))
    {
        return Err(format!("ALARM {}", alarm.alarm.name()));
    }
    if probe == Probe::Health && !options.serializable && status.leader.is_none() {
        return Err("RAFT NO LEADER".into());
    }
    let request = RangeRequest {
        key: b"health".to_vec(),
        limit: 1,
        keys_only: true,
        serializable: options.serializable,
        ..RangeRequest::default()
    };
    let linearizable = !options.serializable;
    let answer = handle
        .ask_driver(|reply| ClientOp::Read {
            request,
            linearizable,
            reply,
        })
        .await
        .and_then(|answer| answer);
    answer
        .map(|_| ())
        .map_err(|error| format!("RANGE ERROR:{error}"))
}

/// etcd's JSON body.
pub fn body(verdict: &Verdict) -> String {
    let (health, reason) = match verdict {
        Ok(()) => ("true", ""),
        Err(reason) => ("false", reason.as_str()),
    };
    format!(
        "{{\"health\":\"{health}\",\"reason\":\"{}\"}}",
        super::status::escape(reason)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_like_etcd() {
        let options = Options::parse(Some("exclude=NOSPACE&exclude=&serializable=true"));
        assert_eq!(
            options,
            Options {
                exclude: vec!["NOSPACE".into()],
                serializable: true
            }
        );
        assert_eq!(Options::parse(None), Options::default());
    }

    #[test]
    fn the_body_is_etcds_json() {
        assert_eq!(body(&Ok(())), r#"{"health":"true","reason":""}"#);
        assert_eq!(
            body(&Err("ALARM NOSPACE".into())),
            r#"{"health":"false","reason":"ALARM NOSPACE"}"#
        );
    }
}
