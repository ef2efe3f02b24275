//! A chart app's part of a request: the chart source checked against the platform's rules, and
//! the repository credentials turned into a Secret.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn plan_helm(
    app: &str,
    helm: HelmRequest,
    kept: Option<String>,
    at: Placement<'_>,
    sources: &ChartSources,
    secrets: &mut Vec<Value>,
) -> Result<HelmSource, Invalid> {
    let oci = helm.repo.starts_with("oci://");
    let host = helm
        .repo
        .strip_prefix("oci://")
        .or_else(|| helm.repo.strip_prefix("https://"))
        .or_else(|| helm.repo.strip_prefix("http://"))
        .ok_or_else(|| {
            invalid(
                "helm.repo",
                "must start with https:// (a Helm repository) or oci:// (an OCI registry)",
            )
        })?
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    if host.is_empty() || helm.repo.len() > 512 || helm.repo.contains(char::is_whitespace) {
        return Err(invalid(
            "helm.repo",
            "must be a URL such as https://charts.example.com or oci://registry.example.com/charts",
        ));
    }
    if helm.insecure && !oci {
        return Err(invalid(
            "helm.insecure",
            "only an oci:// registry can be plain HTTP; use an http:// repo URL for a Helm repository",
        ));
    }
    source::check(&helm.repo, helm.insecure, sources)?;
    let chart_ok = !helm.chart.is_empty()
        && helm.chart.len() <= 100
        && helm
            .chart
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
        && !helm.chart.starts_with(['-', '_', '.']);
    if !chart_ok {
        return Err(invalid(
            "helm.chart",
            "must be a chart name such as wordpress (lowercase letters, digits, '-', '_', '.')",
        ));
    }
    if helm.version.trim().is_empty() || helm.version.len() > 64 {
        return Err(invalid(
            "helm.version",
            "required: a chart version such as 1.2.0 or a range such as ^1.2",
        ));
    }
    if let Some(values) = &helm.values
        && !values.is_object()
    {
        return Err(invalid(
            "helm.values",
            "must be an object (the chart's values), not a list or a scalar",
        ));
    }
    let credentials_secret = match helm.credentials {
        Some(c) => {
            check_credentials("helm.credentials", &c.username, &c.password)?;
            let name = repo_secret_name(app);
            secrets.push(if oci {
                docker_config_secret(&name, app, at, &host, &c.username, &c.password)
            } else {
                secret(
                    &name,
                    app,
                    at,
                    "Opaque",
                    BTreeMap::from([
                        ("username".to_owned(), c.username),
                        ("password".to_owned(), c.password),
                    ]),
                )
            });
            Some(name)
        }
        None => kept,
    };
    Ok(HelmSource {
        repo: helm.repo,
        chart: helm.chart,
        version: helm.version,
        values: helm.values,
        insecure: helm.insecure,
        credentials_secret,
    })
}
