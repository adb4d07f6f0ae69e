//! `members`: always `members-filtered`, as serf's CLI.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Serialize;
use serfer_rpc::client::MemberInfo;

use super::{connect, encoding_error, json_format, Failure, Outcome};
use crate::args::parse_tags;
use crate::cli::{MembersArgs, Rpc};
use crate::output;

/// One member in serf's JSON (fields in serf's order).
#[derive(Serialize)]
struct MemberJson<'a> {
    name: &'a str,
    addr: String,
    port: u16,
    tags: &'a BTreeMap<String, String>,
    status: &'a str,
    protocol: BTreeMap<&'static str, u8>,
}

#[derive(Serialize)]
struct MembersJson<'a> {
    /// `null` when nothing matched, as serf.
    members: Option<Vec<MemberJson<'a>>>,
}

pub async fn run(rpc: &Rpc, a: MembersArgs) -> Outcome {
    let mut tag_args = a.tag.clone();
    if let Some(role) = a.role.as_deref().filter(|r| !r.is_empty()) {
        output::err("Deprecation warning: 'Role' has been replaced with 'Tags'");
        tag_args.push(format!("role={role}"));
    }
    let tags = parse_tags(&tag_args).map_err(|e| Failure::new(format!("Error: {e}")))?;
    let json = json_format(&a.format, encoding_error)?;
    let client = connect(rpc).await?;
    let members = client
        .members_filtered(&tags, &a.status, &a.name)
        .await
        .map_err(|e| Failure::new(format!("Error retrieving members: {e}")))?;
    if json {
        output::out(&render_json(&members));
    } else {
        output::out(&render_text(&members, a.detailed));
    }
    Ok(())
}

fn addr(m: &MemberInfo) -> String {
    SocketAddr::new(m.addr, m.port).to_string()
}

/// `name  ip:port  status  k=v,k=v` rows (tags sorted; serf's come in map order).
pub fn render_text(members: &[MemberInfo], detailed: bool) -> String {
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let mut row = vec![m.name.clone(), addr(m), m.status.clone(), tags.join(",")];
            if detailed {
                let (min, max, cur) = m.delegate;
                row.push(format!("Protocol Version: {cur}"));
                row.push(format!("Available Protocol Range: [{min}, {max}]"));
            }
            row
        })
        .collect();
    output::columnize(&rows)
}

/// `{"members": [...]}` as serf prints it.
pub fn render_json(members: &[MemberInfo]) -> String {
    let list: Vec<MemberJson> = members
        .iter()
        .map(|m| {
            let (min, max, cur) = m.delegate;
            MemberJson {
                name: &m.name,
                addr: addr(m),
                port: m.port,
                tags: &m.tags,
                status: &m.status,
                protocol: BTreeMap::from([("max", max), ("min", min), ("version", cur)]),
            }
        })
        .collect();
    let body = MembersJson {
        members: (!list.is_empty()).then_some(list),
    };
    output::json(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, ip: [u8; 4], tags: &[(&str, &str)]) -> MemberInfo {
        MemberInfo {
            name: name.into(),
            addr: ip.into(),
            port: 7946,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            status: "alive".into(),
            delegate: (2, 5, 5),
        }
    }

    #[test]
    fn text_like_serf() {
        let ms = [
            member("node-a", [127, 0, 0, 21], &[("role", "web")]),
            member("node-b", [127, 0, 0, 22], &[("role", "db"), ("dc", "east")]),
        ];
        assert_eq!(
            render_text(&ms, false),
            "node-a  127.0.0.21:7946  alive  role=web\nnode-b  127.0.0.22:7946  alive  dc=east,role=db"
        );
        assert_eq!(
            render_text(&ms, true),
            "node-a  127.0.0.21:7946  alive  role=web         Protocol Version: 5  Available Protocol Range: [2, 5]\n\
             node-b  127.0.0.22:7946  alive  dc=east,role=db  Protocol Version: 5  Available Protocol Range: [2, 5]"
        );
        assert_eq!(render_text(&[], false), "");
        let v6 = MemberInfo {
            addr: "::1".parse().unwrap(),
            ..member("n", [0; 4], &[])
        };
        assert_eq!(render_text(&[v6], false), "n  [::1]:7946  alive");
    }

    #[test]
    fn json_like_serf() {
        let ms = [member("node-a", [127, 0, 0, 21], &[("role", "web")])];
        assert_eq!(
            render_json(&ms),
            r#"{
  "members": [
    {
      "name": "node-a",
      "addr": "127.0.0.21:7946",
      "port": 7946,
      "tags": {
        "role": "web"
      },
      "status": "alive",
      "protocol": {
        "max": 5,
        "min": 2,
        "version": 5
      }
    }
  ]
}"#
        );
        assert_eq!(render_json(&[]), "{\n  \"members\": null\n}");
    }
}
