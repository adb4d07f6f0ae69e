//! Joining a cluster, and the addresses given for it: `ip:port`, `ip`,
//! `host:port` or `host`.

use std::net::SocketAddr;

use crate::config::DEFAULT_PORT;
use crate::engine::Handle;
use crate::error::{Error, JoinAttempt};

/// Parses `ip:port` or `ip` (a bind or advertise address must be an IP).
pub(crate) fn parse_socket_addr(text: &str, default_port: u16) -> Result<SocketAddr, Error> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    Err(Error::InvalidAddress {
        address: text.to_owned(),
        reason: "expected an IP address with an optional port, like `127.0.0.1:7946`".into(),
    })
}

/// Resolves `ip:port`, `ip`, `host:port` or `host` (port 7946 when left out).
pub(crate) async fn resolve(text: &str) -> Result<SocketAddr, Error> {
    if let Ok(a) = parse_socket_addr(text, DEFAULT_PORT) {
        return Ok(a);
    }
    let invalid = |reason: String| Error::InvalidAddress {
        address: text.to_owned(),
        reason,
    };
    let has_port = text
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    let with_port = if has_port {
        text.to_owned()
    } else {
        format!("{text}:{DEFAULT_PORT}")
    };
    tokio::net::lookup_host(with_port)
        .await
        .map_err(|e| invalid(e.to_string()))?
        .next()
        .ok_or_else(|| invalid("the name resolves to no address".into()))
}

/// Joins through every address; succeeds if any answered.
///
/// A node given several keys encrypts with its primary; when no address accepts
/// that, each other key is tried as the primary in turn (the node is alone until it
/// joins, so this changes nothing for anyone else), so that a node holding any one
/// of the cluster's keys can join, as Go Serfer promised.
pub(crate) async fn join(
    engine: &Handle,
    addrs: &[String],
    ignore_old: bool,
) -> Result<usize, Error> {
    let first = join_once(engine, addrs, ignore_old).await;
    let Err(first_err) = first else { return first };
    let keys = engine.local_keys().await;
    let Some((primary, others)) = keys.split_first() else {
        return Err(first_err);
    };
    for key in others {
        if !engine.use_local_key(key).await {
            continue;
        }
        if let Ok(n) = join_once(engine, addrs, ignore_old).await {
            tracing::info!("joined with a secondary key, which is now this node's primary");
            return Ok(n);
        }
    }
    engine.use_local_key(primary).await;
    Err(first_err)
}

async fn join_once(engine: &Handle, addrs: &[String], ignore_old: bool) -> Result<usize, Error> {
    let mut attempts = Vec::new();
    let mut joined = 0;
    for text in addrs {
        let addr = match resolve(text).await {
            Ok(a) => a,
            Err(e) => {
                attempts.push(JoinAttempt {
                    address: text.clone(),
                    error: Box::new(e),
                });
                continue;
            }
        };
        match engine.join(addr, ignore_old).await {
            Ok(()) => joined += 1,
            Err(e) => attempts.push(JoinAttempt {
                address: text.clone(),
                error: Box::new(e),
            }),
        }
    }
    if joined == 0 {
        return Err(Error::JoinFailed { attempts });
    }
    for a in &attempts {
        tracing::warn!(addr = %a.address, why = %a.error, "could not join through this address");
    }
    Ok(joined)
}
