//! An image app's part of a request: the image reference checked and split, the container's
//! settings, and the registry credentials turned into a pull Secret.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Splits `grafana/grafana:11.0.0` into image and tag (a port in the registry host is not a
/// tag), and `image@sha256:...` into image and digest.
pub fn split_image(reference: &str) -> (&str, Option<&str>) {
    if let Some((image, digest)) = reference.split_once('@') {
        return (image, Some(digest));
    }
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            Some(&reference[last_slash + i + 1..]),
        ),
        None => (reference, None),
    }
}

fn valid_image(image: &str) -> bool {
    let component = |c: &str| {
        !c.is_empty()
            && c.split(['.', '_', '-']).all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            })
    };
    let mut parts = image.split('/');
    let first = parts.next().unwrap_or_default();
    let first_ok = match first.split_once(':') {
        Some((host, port)) => {
            component(host) && !port.is_empty() && port.chars().all(|c| c.is_ascii_digit())
        }
        None => component(first),
    };
    image.len() <= 255 && first_ok && parts.all(component)
}

fn valid_tag(tag: &str) -> bool {
    if let Some(hex) = tag.strip_prefix("sha256:") {
        return hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    }
    !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The registry host of an image (`docker.io` when the first component is not a host).
pub fn registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

pub(super) fn plan_image(
    app: &str,
    request: ImageRequest,
    kept: Option<String>,
    at: Placement<'_>,
    secrets: &mut Vec<Value>,
) -> Result<ImageSource, Invalid> {
    let (image, tag_in_image) = split_image(&request.image);
    let tag = match (tag_in_image, request.tag.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "image.tag",
                "the image already has a tag; give it in image or in tag, not both",
            ));
        }
        (Some(tag), None) | (None, Some(tag)) => tag.to_owned(),
        (None, None) => {
            return Err(invalid(
                "image.tag",
                "required: a tag such as 11.0.0 (in tag, or as image:tag)",
            ));
        }
    };
    if !valid_image(image) {
        return Err(invalid(
            "image.image",
            format!(
                "{image:?} is not an image reference; use e.g. grafana/grafana:11.0.0 or registry.example.com/team/app:1.0"
            ),
        ));
    }
    if !valid_tag(&tag) {
        return Err(invalid(
            "image.tag",
            format!(
                "{tag:?} is not a tag; use letters, digits, '_', '.', '-' (at most 128), or sha256:<digest>"
            ),
        ));
    }
    if request.ports.len() > 20 {
        return Err(invalid("image.ports", "at most 20 ports"));
    }
    let mut seen_ports = BTreeSet::new();
    for (i, p) in request.ports.iter().enumerate() {
        if !(1..=65535).contains(&p.port) {
            return Err(invalid(
                format!("image.ports[{i}].port"),
                "must be between 1 and 65535",
            ));
        }
        if !seen_ports.insert(p.port) {
            return Err(invalid(
                format!("image.ports[{i}].port"),
                format!("port {} is listed twice", p.port),
            ));
        }
        if let Some(name) = &p.name
            && (name.is_empty()
                || name.len() > 15
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return Err(invalid(
                format!("image.ports[{i}].name"),
                "must be at most 15 lowercase letters, digits or '-'",
            ));
        }
    }
    let replicas = request.replicas.unwrap_or(1);
    if !(0..=100).contains(&replicas) {
        return Err(invalid("image.replicas", "must be between 0 and 100"));
    }
    let r = &request.resources;
    for (field, value) in [
        ("cpu", &r.cpu),
        ("memory", &r.memory),
        ("cpuLimit", &r.cpu_limit),
        ("memoryLimit", &r.memory_limit),
    ] {
        if let Some(v) = value
            && !is_quantity(v)
        {
            return Err(invalid(
                format!("image.resources.{field}"),
                format!(
                    "{v:?} is not a quantity; use e.g. 250m or 1 for CPU, 256Mi or 1Gi for memory"
                ),
            ));
        }
    }
    if request.env.len() > 100 {
        return Err(invalid("image.env", "at most 100 variables"));
    }
    let mut seen_env = BTreeSet::new();
    for (i, e) in request.env.iter().enumerate() {
        let field = format!("image.env[{i}]");
        let name_ok = !e.name.is_empty()
            && e.name.len() <= 256
            && !e.name.starts_with(|c: char| c.is_ascii_digit())
            && e.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
        if !name_ok {
            return Err(invalid(
                format!("{field}.name"),
                "must be a variable name such as DB_HOST",
            ));
        }
        if !seen_env.insert(e.name.as_str()) {
            return Err(invalid(
                format!("{field}.name"),
                format!("{} is set twice", e.name),
            ));
        }
        match (&e.value, &e.secret_ref) {
            (Some(_), None) => {}
            (None, Some(s)) => {
                crate::names::validate_dns1123_label("secretRef.name", &s.name)
                    .map_err(|err| invalid(format!("{field}.secretRef.name"), err.to_string()))?;
                if s.key.is_empty() || s.key.len() > 253 {
                    return Err(invalid(
                        format!("{field}.secretRef.key"),
                        "required: the key in the Secret",
                    ));
                }
            }
            _ => {
                return Err(invalid(
                    field,
                    "give exactly one of value (a literal) and secretRef (a key of a Secret)",
                ));
            }
        }
    }
    if request.config_files.len() > 20 {
        return Err(invalid("image.configFiles", "at most 20 files"));
    }
    let mut seen_paths = BTreeSet::new();
    let mut total = 0usize;
    for (i, f) in request.config_files.iter().enumerate() {
        let ok = f.path.starts_with('/')
            && !f.path.ends_with('/')
            && !f.path.split('/').any(|s| s == "..")
            && f.path.len() <= 1024;
        if !ok {
            return Err(invalid(
                format!("image.configFiles[{i}].path"),
                "must be an absolute file path without .. such as /etc/app/config.yaml",
            ));
        }
        if !seen_paths.insert(f.path.as_str()) {
            return Err(invalid(
                format!("image.configFiles[{i}].path"),
                format!("{} is listed twice", f.path),
            ));
        }
        total += f.content.len();
    }
    if total > 256 * 1024 {
        return Err(invalid(
            "image.configFiles",
            "the files together must be at most 256 KiB",
        ));
    }
    if let Some(ingress) = &request.ingress {
        let host_ok = !ingress.host.is_empty()
            && ingress.host.len() <= 253
            && ingress
                .host
                .split('.')
                .all(|label| crate::names::validate_dns1123_label("host", label).is_ok());
        if !host_ok {
            return Err(invalid(
                "image.ingress.host",
                "must be a DNS name such as grafana.example.com",
            ));
        }
        if !ingress.path.starts_with('/') {
            return Err(invalid("image.ingress.path", "must start with /"));
        }
        match ingress.port {
            Some(port) if !request.ports.iter().any(|p| p.port == port) => {
                return Err(invalid(
                    "image.ingress.port",
                    format!("{port} is not one of image.ports"),
                ));
            }
            None if request.ports.is_empty() => {
                return Err(invalid(
                    "image.ports",
                    "an ingress needs a port: list the port the container listens on",
                ));
            }
            _ => {}
        }
    }
    let registry_secret = match &request.registry {
        Some(c) => {
            check_credentials("image.registry", &c.username, &c.password)?;
            let name = registry_secret_name(app);
            let server = c
                .server
                .clone()
                .unwrap_or_else(|| registry_host(image).to_owned());
            secrets.push(docker_config_secret(
                &name,
                app,
                at,
                &server,
                &c.username,
                &c.password,
            ));
            Some(name)
        }
        None => kept,
    };
    Ok(ImageSource {
        image: image.to_owned(),
        tag,
        ports: request.ports,
        replicas,
        resources: request.resources,
        env: request.env,
        config_files: request.config_files,
        registry_secret,
        ingress: request.ingress,
    })
}
