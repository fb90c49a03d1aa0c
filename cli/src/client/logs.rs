//! `edgectl logs`: one JSON line per console line a Worker of the tenant
//! writes, from every node, until Ctrl-C or the gateway ends the stream.

use std::io::Write;
use std::process::ExitCode;

use edge_proto::v1 as pb;
use serde_json::json;

use super::GatewayArgs;
use super::connect::Gateway;
use super::failure::Failure;

pub(crate) async fn follow(id: Option<String>, gateway: &GatewayArgs) -> Result<ExitCode, Failure> {
    let mut gw = Gateway::connect(gateway).await?;
    let request = gw.request(pb::StreamLogsRequest {
        worker_id: id.unwrap_or_default(),
    });
    let mut stream = gw.client().stream_logs(request).await?.into_inner();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    // Follows until the user stops it: unbounded by design, one event per turn.
    loop {
        tokio::select! {
            _ = &mut interrupted => return Ok(ExitCode::SUCCESS),
            message = stream.message() => match message? {
                Some(event) => {
                    // A reader that went away (`| head`) ends the command, quietly.
                    if writeln!(std::io::stdout().lock(), "{}", event_json(&event)).is_err() {
                        return Ok(ExitCode::SUCCESS);
                    }
                }
                None => return Ok(ExitCode::SUCCESS),
            },
        }
    }
}

fn event_json(event: &pb::LogEvent) -> serde_json::Value {
    let line = event.line.clone().unwrap_or_default();
    json!({
        "worker_id": event.worker_id,
        "node_id": event.node_id,
        "region": event.region,
        "level": line.level,
        "message": line.message,
        "unix_ms": line.unix_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_flat_object() {
        let event = pb::LogEvent {
            worker_id: "w".into(),
            node_id: "eu-1".into(),
            region: "eu".into(),
            line: Some(pb::LogLine {
                level: "warn".into(),
                message: "careful".into(),
                unix_ms: 7,
            }),
        };
        assert_eq!(
            event_json(&event),
            json!({"worker_id": "w", "node_id": "eu-1", "region": "eu", "level": "warn", "message": "careful", "unix_ms": 7})
        );
    }
}
