//! Cluster members and the membership events about them.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// One node of the cluster as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    /// The node's unique name.
    pub name: String,
    /// The address it advertises.
    pub addr: IpAddr,
    /// The gossip port it advertises.
    pub port: u16,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Its status as seen from here.
    pub status: MemberStatus,
    /// The gossip protocol version it speaks.
    pub protocol: u8,
}

/// A member's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    /// Reachable and taking part.
    Alive,
    /// Announced it is leaving.
    Leaving,
    /// Left gracefully.
    Left,
    /// Stopped answering probes.
    Failed,
    /// Not known (yet).
    None,
}

impl MemberStatus {
    /// The status as Serf prints it (`alive`, `left`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            MemberStatus::Alive => "alive",
            MemberStatus::Leaving => "leaving",
            MemberStatus::Left => "left",
            MemberStatus::Failed => "failed",
            MemberStatus::None => "none",
        }
    }
}

impl std::fmt::Display for MemberStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a membership event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemberEventKind {
    /// Members joined.
    Join,
    /// Members left gracefully.
    Leave,
    /// Members failed (stopped answering).
    Failed,
    /// Members changed their tags.
    Update,
    /// Failed or left members were reaped from the member list.
    Reap,
}

impl MemberEventKind {
    /// Every kind, in order.
    pub const ALL: [MemberEventKind; 5] = [
        MemberEventKind::Join,
        MemberEventKind::Leave,
        MemberEventKind::Failed,
        MemberEventKind::Update,
        MemberEventKind::Reap,
    ];

    /// The name as Serf writes it: `member-join`, `member-leave`, …
    pub fn serf_name(&self) -> &'static str {
        match self {
            MemberEventKind::Join => "member-join",
            MemberEventKind::Leave => "member-leave",
            MemberEventKind::Failed => "member-failed",
            MemberEventKind::Update => "member-update",
            MemberEventKind::Reap => "member-reap",
        }
    }

    /// The short name: `join`, `leave`, `failed`, `update`, `reap`.
    pub fn as_str(&self) -> &'static str {
        &self.serf_name()["member-".len()..]
    }
}

impl std::fmt::Display for MemberEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for MemberEventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.strip_prefix("member-").unwrap_or(s);
        MemberEventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown member event `{s}`, expected one of: join, leave, failed, update, reap"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names() {
        for k in MemberEventKind::ALL {
            assert_eq!(k.as_str().parse::<MemberEventKind>().unwrap(), k);
            assert_eq!(k.serf_name().parse::<MemberEventKind>().unwrap(), k);
        }
        assert!("joined".parse::<MemberEventKind>().is_err());
    }
}
