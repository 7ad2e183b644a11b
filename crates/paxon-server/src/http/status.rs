//! `/status.json`: this member's view, which the status page polls from
//! every member (CORS allows that: it is the same data `etcdctl endpoint
//! status` and `/metrics` give anyone who can reach the port).

use std::fmt::Write;

use crate::grpc::ClusterInfo;
use crate::member::StatusInfo;
use crate::metrics::Metrics;

/// The JSON document.
pub fn render(cluster: &ClusterInfo, status: &StatusInfo, metrics: &Metrics) -> String {
    let id = |n: paxon_core::NodeId| format!("\"{:x}\"", n.0);
    let mut out = String::with_capacity(2048);
    let _ = write!(
        out,
        "{{\"id\":{},\"name\":\"{}\",\"cluster_id\":\"{:x}\",\"leader\":{},\"ballot_round\":{},\
         \"commit\":{},\"applied\":{},\"revision\":{},\"db_size_bytes\":{},",
        id(status.me),
        escape(&cluster.name),
        cluster.cluster_id,
        status.leader.map_or("null".into(), id),
        status.term,
        status.commit.0,
        status.applied.0,
        status.revision,
        status.db_size,
    );
    out.push_str("\"members\":[");
    let (_, latest) = status.memberships.latest();
    let members = latest.all().filter_map(|id| status.directory.get(&id));
    for (i, member) in members.enumerate() {
        let client_urls = if member.id == cluster.me {
            cluster.client_urls.join(",")
        } else {
            status
                .client_urls
                .get(&member.id)
                .cloned()
                .unwrap_or_default()
        };
        let _ = write!(
            out,
            "{}{{\"id\":{},\"name\":\"{}\",\"peer_urls\":{},\"client_urls\":{}}}",
            if i > 0 { "," } else { "" },
            id(member.id),
            escape(&member.name),
            strings(member.peer_urls.iter().map(String::as_str)),
            strings(client_urls.split(',').filter(|u| !u.is_empty())),
        );
    }
    out.push_str("],\"alarms\":[");
    for (i, alarm) in status.alarms.iter().enumerate() {
        let _ = write!(
            out,
            "{}{{\"member\":\"{:x}\",\"alarm\":\"{}\"}}",
            if i > 0 { "," } else { "" },
            alarm.member,
            alarm.alarm.name()
        );
    }
    out.push_str("],\"leader_changes\":[");
    for (i, change) in metrics.leader_changes().iter().enumerate() {
        let _ = write!(
            out,
            "{}{{\"at_unix_ms\":{},\"leader\":{},\"ballot_round\":{}}}",
            if i > 0 { "," } else { "" },
            change.at_unix_ms,
            change.leader.map_or("null".into(), id),
            change.round
        );
    }
    let totals = metrics.grpc.unary_totals();
    let _ = write!(
        out,
        "],\"requests\":{{\"handled\":{},\"failed\":{},\"seconds\":{}}},\
         \"leader_changes_seen\":{},\"proposals_pending\":{},\"slots_in_flight\":{},\"now_unix_ms\":{}}}",
        totals.handled,
        totals.failed,
        totals.seconds,
        metrics.leader_changes_seen.get(),
        metrics.proposals_pending.get(),
        metrics.slots_in_flight.get(),
        crate::metrics::unix_ms(),
    );
    out
}

fn strings<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = items.map(|s| format!("\"{}\"", escape(s))).collect();
    format!("[{}]", quoted.join(","))
}

/// Escapes a string for a JSON string literal.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_quotes_backslashes_and_control_characters() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\u000ad");
    }
}
