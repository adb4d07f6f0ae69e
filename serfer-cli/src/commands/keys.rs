//! `keys`: list, install, use or remove encryption keys across the cluster.

use std::collections::BTreeMap;

use super::{connect, Failure, Outcome};
use crate::cli::{subcommand_help, KeysArgs, Rpc};
use crate::output;

/// One keyring operation and serf's words for it.
struct Action {
    command: &'static str,
    key: Option<String>,
    doing: &'static str,
    done: &'static str,
    failed: &'static str,
}

fn action(a: KeysArgs) -> Result<Action, Failure> {
    // Empty values count as absent, as in serf.
    let given = |k: Option<String>| k.filter(|k| !k.is_empty());
    let mut actions = Vec::new();
    if a.list {
        actions.push(Action {
            command: "list-keys",
            key: None,
            doing: "Asking all members for installed keys...",
            done: "Keys gathered, listing cluster keys...",
            failed: "Failed to gather member keys",
        });
    }
    if let Some(key) = given(a.install) {
        actions.push(Action {
            command: "install-key",
            key: Some(key),
            doing: "Installing key on all members...",
            done: "Successfully installed key!",
            failed: "Error installing key",
        });
    }
    if let Some(key) = given(a.use_key) {
        actions.push(Action {
            command: "use-key",
            key: Some(key),
            doing: "Changing primary key on all members...",
            done: "Successfully changed primary key!",
            failed: "Error changing primary key",
        });
    }
    if let Some(key) = given(a.remove) {
        actions.push(Action {
            command: "remove-key",
            key: Some(key),
            doing: "Removing key on all members...",
            done: "Successfully removed key!",
            failed: "Error removing key",
        });
    }
    match actions.len() {
        0 => Err(Failure::new(subcommand_help("keys").trim_end())),
        1 => Ok(actions.remove(0)),
        _ => Err(Failure::new(
            "Only one of --install, --use, --remove, or --list allowed",
        )),
    }
}

/// Serf's `==> ` prefix for progress lines.
fn info(line: &str) {
    output::out(&format!("==> {line}"));
}

pub async fn run(rpc: &Rpc, a: KeysArgs) -> Outcome {
    let action = action(a)?;
    let client = connect(rpc).await?;
    info(action.doing);
    let (resp, error) = client
        .keys(action.command, action.key.as_deref())
        .await
        .map_err(|e| Failure::new(format!("{}: {e}", action.failed)))?;
    if let Some(error) = error {
        return Err(Failure::new(failure_text(
            &resp.messages,
            action.failed,
            &error,
        )));
    }
    info(action.done);
    if action.command == "list-keys" {
        output::out("");
        output::out(&render_keys(&resp.keys, resp.num_nodes));
    }
    Ok(())
}

/// `failed:  node  message` rows, an empty line, then `<what>: <error>`.
pub fn failure_text(messages: &BTreeMap<String, String>, what: &str, error: &str) -> String {
    let mut text = String::new();
    if !messages.is_empty() {
        let rows: Vec<Vec<&str>> = messages
            .iter()
            .map(|(node, msg)| vec!["failed:", node.as_str(), msg.as_str()])
            .collect();
        text.push_str(&output::columnize(&rows));
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&format!("{what}: {error}"));
    text
}

/// `KEY  [count/total]` rows.
pub fn render_keys(keys: &BTreeMap<String, u64>, total: u64) -> String {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|(key, n)| vec![key.clone(), format!("[{n}/{total}]")])
        .collect();
    output::columnize(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_like_serf() {
        let messages = BTreeMap::from([(
            "node-e".to_owned(),
            "Removing the primary key is not allowed".to_owned(),
        )]);
        assert_eq!(
            failure_text(&messages, "Error removing key", "1/1 nodes reported failure"),
            "failed:  node-e  Removing the primary key is not allowed\n\nError removing key: 1/1 nodes reported failure"
        );
        assert_eq!(
            failure_text(&BTreeMap::new(), "Error installing key", "x"),
            "\nError installing key: x"
        );
        let keys = BTreeMap::from([
            ("EBESExQVFhcYGRobHB0eHw==".to_owned(), 2),
            ("AAECAwQFBgcICQoLDA0ODw==".to_owned(), 1),
        ]);
        assert_eq!(
            render_keys(&keys, 2),
            "AAECAwQFBgcICQoLDA0ODw==  [1/2]\nEBESExQVFhcYGRobHB0eHw==  [2/2]"
        );
    }

    #[test]
    fn one_action_only() {
        let args = |list, install: Option<&str>| KeysArgs {
            list,
            install: install.map(str::to_owned),
            use_key: None,
            remove: None,
        };
        assert_eq!(
            action(args(true, None)).ok().map(|a| a.command),
            Some("list-keys")
        );
        assert_eq!(
            action(args(false, Some("k"))).ok().map(|a| a.command),
            Some("install-key")
        );
        let both = action(args(true, Some("k"))).err().unwrap();
        assert_eq!(
            both.0,
            "Only one of --install, --use, --remove, or --list allowed"
        );
        assert!(action(args(false, Some(""))).is_err());
    }
}
