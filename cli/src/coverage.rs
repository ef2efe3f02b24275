//! Which command calls each operation of the OpenAPI document. A unit test fails when an
//! operation has no row (a new endpoint needs a command) or a row names no operation.

/// `(operationId, command)`.
pub(crate) const COMMANDS: &[(&str, &str)] = &[
    ("apps.action", "app action NAME ACTION"),
    ("apps.create", "app create"),
    ("apps.delete", "app delete"),
    ("apps.deploy", "app deploy"),
    ("apps.get", "app get"),
    ("apps.image-update", "app set-image"),
    ("apps.list", "app list"),
    ("apps.logs", "app logs"),
    ("apps.policies", "app policies"),
    ("apps.resume", "app resume"),
    ("apps.revisions", "app revisions"),
    ("apps.rollback", "app rollback"),
    ("apps.status", "app status"),
    ("apps.suspend", "app suspend"),
    ("apps.traits", "app traits"),
    ("apps.update", "app update"),
    ("audit.list", "audit"),
    ("clusters.create", "cluster create"),
    ("clusters.delete", "cluster delete"),
    ("clusters.get", "cluster get"),
    ("clusters.kubeconfig", "cluster kubeconfig"),
    ("clusters.list", "cluster list"),
    ("credentials.project", "credential --project"),
    (
        "credentials.projectByQuery",
        "credential --project --role readOnly",
    ),
    ("credentials.tenant", "credential"),
    ("kubeconfigs.project", "kubeconfig project"),
    (
        "kubeconfigs.projectByQuery",
        "kubeconfig project --role readOnly",
    ),
    ("kubeconfigs.tenant", "kubeconfig tenant --cluster C"),
    ("kubeconfigs.tenantByName", "kubeconfig tenant"),
    ("login.oidc", "login --oidc"),
    ("login.providers", "login --list-providers"),
    ("meta.healthz", "health"),
    ("meta.jwks", "server jwks"),
    ("meta.metrics", "server metrics"),
    ("meta.openapi", "server openapi"),
    ("meta.readyz", "health --ready"),
    ("meta.version", "version"),
    ("projects.access", "project access"),
    ("projects.create", "project create"),
    ("projects.delete", "project delete"),
    ("projects.get", "project get"),
    ("projects.list", "project list"),
    ("projects.update", "project update"),
    ("projects.usage", "project usage"),
    ("tenants.create", "tenant create"),
    ("tenants.delete", "tenant delete"),
    ("tenants.get", "tenant get --cluster C"),
    ("tenants.getByName", "tenant get"),
    ("tenants.limits", "tenant limits"),
    ("tenants.list", "tenant list --cluster C"),
    ("tenants.listAll", "tenant list"),
    ("tenants.network-policies", "tenant network-policies"),
    ("tenants.owners", "tenant owners"),
    ("tenants.quotas", "tenant quota"),
    ("tenants.update", "tenant update"),
    ("tenants.usage", "tenant usage"),
    ("tokens.create", "token create"),
    ("tokens.list", "token list"),
    ("tokens.me", "whoami"),
    ("tokens.revoke", "token revoke"),
];

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::COMMANDS;
    use crate::api::OPERATIONS;

    #[test]
    fn every_operation_has_a_command() {
        let missing: Vec<&str> = OPERATIONS
            .iter()
            .map(|o| o.id)
            .filter(|id| !COMMANDS.iter().any(|(op, _)| op == id))
            .collect();
        assert!(
            missing.is_empty(),
            "operations without a command (add them to cli/src/coverage.rs): {missing:?}"
        );
        let stale: Vec<&str> = COMMANDS
            .iter()
            .map(|(op, _)| *op)
            .filter(|op| !OPERATIONS.iter().any(|o| o.id == *op))
            .collect();
        assert!(stale.is_empty(), "rows naming no operation: {stale:?}");
    }

    #[test]
    fn every_row_names_a_real_command() {
        let root = crate::args::Cli::command();
        for (op, command) in COMMANDS {
            let mut cmd = &root;
            for word in command.split_whitespace().take_while(|w| {
                !w.starts_with('-') && w.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            }) {
                cmd = cmd
                    .find_subcommand(word)
                    .unwrap_or_else(|| panic!("{op}: `kubenova {command}` is not a command"));
            }
            for flag in command
                .split_whitespace()
                .filter_map(|w| w.strip_prefix("--"))
            {
                let known = cmd.get_arguments().any(|a| a.get_long() == Some(flag))
                    || root.get_arguments().any(|a| a.get_long() == Some(flag));
                assert!(known, "{op}: `kubenova {command}` has no --{flag}");
            }
        }
    }
}
