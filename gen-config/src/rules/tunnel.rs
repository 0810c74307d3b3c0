//! Cloudflare Tunnel health and failover (issue 7, seed 003), from the exporter's tunnel
//! collector. Statuses are the last the API reported, so an API outage does not resolve a
//! TunnelDown; CloudflareApiDown says the picture is stale.

use super::{Group, Rule, Severity};
use crate::duration::PromDuration;

pub fn group() -> Group {
    Group {
        name: "vpsmon-tunnel",
        rules: vec![
            Rule {
                alert: "TunnelDown",
                expr: r#"vpsmon_cloudflare_tunnel_status{status="down"} == 1"#.into(),
                for_: PromDuration::secs(120),
                severity: Severity::Critical,
                summary: "Cloudflare Tunnel {{ $labels.name }} is down ({{ $labels.agent }})".into(),
                description: "Cloudflare reports tunnel {{ $labels.name }} ({{ $labels.tunnel_id }}), watched from {{ $labels.agent }}, down for more than 2m: it has no connection to Cloudflare's edge.".into(),
                threshold: None,
            },
            Rule {
                alert: "TunnelDegraded",
                expr: r#"vpsmon_cloudflare_tunnel_status{status="degraded"} == 1"#.into(),
                for_: PromDuration::secs(600),
                severity: Severity::Warning,
                summary: "Cloudflare Tunnel {{ $labels.name }} is degraded ({{ $labels.agent }})".into(),
                description: "Cloudflare reports tunnel {{ $labels.name }} ({{ $labels.tunnel_id }}), watched from {{ $labels.agent }}, degraded for more than 10m: it serves traffic, but with fewer connections than it should.".into(),
                threshold: None,
            },
            Rule {
                alert: "CloudflareApiDown",
                expr: "vpsmon_cloudflare_api_up == 0".into(),
                for_: PromDuration::secs(300),
                severity: Severity::Warning,
                summary: "The Cloudflare API does not answer {{ $labels.agent }}".into(),
                description: "The Cloudflare API has not answered the tunnel checks of {{ $labels.agent }} for more than 5m (429, 5xx, timeouts or a bad token: see vpsmon_cloudflare_api_errors_total). Tunnel statuses are stale and no failover can happen.".into(),
                threshold: None,
            },
            Rule {
                alert: "GatewayDown",
                expr: "vpsmon_gateway_up == 0".into(),
                for_: PromDuration::secs(120),
                severity: Severity::Warning,
                summary: "Gateway {{ $labels.gateway }} of {{ $labels.agent }} does not answer".into(),
                description: "{{ $labels.agent }} has had no answer from its gateway {{ $labels.gateway }} (ICMP echo, then TCP connect) for more than 2m; its tunnel failover is suspended meanwhile.".into(),
                threshold: None,
            },
            Rule {
                alert: "FailoverActive",
                expr: "vpsmon_failover_active == 1".into(),
                for_: PromDuration::secs(0),
                severity: Severity::Info,
                summary: "Failover unit running on {{ $labels.agent }} for tunnel {{ $labels.tunnel_id }}".into(),
                description: "{{ $labels.agent }} started the failover unit of tunnel {{ $labels.tunnel_id }} because the tunnel was down. It stops once the tunnel is healthy again only with --failover.stop-on-recovery.".into(),
                threshold: None,
            },
        ],
    }
}
