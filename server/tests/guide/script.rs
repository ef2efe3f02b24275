//! A guide's shell blocks as steps: each command, what the guide shows it prints, and whether it
//! is meant to fail. Pure parsing, unit-tested below.
//!
//! The conventions a guide follows (docs/development.md, "Guides are tests"):
//! - Only fenced ```` ```sh ```` blocks run, in order, in one shell. A block preceded by the line
//!   `<!-- guide: skip (reason) -->` does not run; the reason is required.
//! - A guide shows each step in two forms: ```` ```sh curl ```` (the REST API with curl) and,
//!   right after it, ```` ```sh cli ```` (the same with `kubenova`). The runner runs the guides
//!   twice, a curl pass and a CLI pass ([`Form`]); a plain ```` ```sh ```` block (kubectl, shell)
//!   runs in both. A block that calls the API with curl must be `sh curl`, one that runs
//!   `kubenova` must be `sh cli`, and the next block after a `sh curl` block must be its
//!   `sh cli` form (skipped too, with its reason, if the CLI cannot do it).
//! - A command continues over lines ending in `\`, `|`, `&&` or `||`, and through a here-document
//!   (`<<'EOF'` ... `EOF`).
//! - A comment line right after a command that starts with `{`, `[`, `error`, `Error` or a
//!   `kind/name` result (`tenant/acme created and ready`, as kubectl and kubenova print them) is
//!   the output the command prints (further comment lines indented by one more space continue
//!   it). `...` in it stands for anything; the rest must appear, in that order. Runs of
//!   whitespace, and whitespace next to `{ } [ ] , :`, do not count (so pretty-printed JSON
//!   matches the one-line JSON a guide shows).
//! - A command whose output starts with `error`/`Error`, or whose trailing comment starts with
//!   `Forbidden`, `Unauthorized` or `KN-4`, is meant to fail; it must fail, and the shown output
//!   is compared with what it printed on stderr and stdout.

/// Which form of the guide a pass runs: the REST API with curl, or the `kubenova` CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Curl,
    Cli,
}

impl Form {
    /// The word after `sh` in a block's info string.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Form::Curl => "curl",
            Form::Cli => "cli",
        }
    }
}

/// One command of a guide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    /// Where it is: `docs/index.md:42`.
    pub(crate) place: String,
    /// The command, as written (continuation lines and here-documents included).
    pub(crate) command: String,
    /// What the guide shows it prints (`...` for anything), if it shows something.
    pub(crate) shows: Option<String>,
    /// Whether the guide says it fails.
    pub(crate) fails: bool,
    /// The one pass it runs in (`sh curl`, `sh cli`); `None` for both (`sh`).
    pub(crate) form: Option<Form>,
}

/// A block the guide marks as not runnable here, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub(crate) place: String,
    pub(crate) reason: String,
}

const SKIP: &str = "<!-- guide: skip";

/// The steps of `markdown` (the file `name`), and the blocks it skips. Every call of the API
/// with curl must be in a `sh curl` block followed by its `sh cli` form (the guides show both).
pub(crate) fn parse(name: &str, markdown: &str) -> Result<(Vec<Step>, Vec<Skipped>), String> {
    parse_with(name, markdown, true)
}

/// Like [`parse`], for a page that shows the REST API in plain `sh` blocks only (the install
/// page, which the install suite runs in one pass).
#[allow(dead_code)] // used by the install suite, which includes this file
pub(crate) fn parse_curl_only(
    name: &str,
    markdown: &str,
) -> Result<(Vec<Step>, Vec<Skipped>), String> {
    parse_with(name, markdown, false)
}

fn parse_with(
    name: &str,
    markdown: &str,
    both_forms: bool,
) -> Result<(Vec<Step>, Vec<Skipped>), String> {
    let lines: Vec<&str> = markdown.lines().collect();
    let (mut steps, mut skipped) = (Vec::new(), Vec::new());
    let mut skip_next: Option<(usize, String)> = None;
    // A `sh curl` block still waiting for its `sh cli` form.
    let mut curl_block: Option<String> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if let Some(rest) = line.trim_start().strip_prefix(SKIP) {
            let reason = rest
                .trim()
                .strip_suffix("-->")
                .map(str::trim)
                .and_then(|r| r.strip_prefix('(')?.strip_suffix(')'))
                .filter(|r| !r.trim().is_empty())
                .ok_or_else(|| {
                    format!(
                        "{name}:{}: write the skip marker as `<!-- guide: skip (why) -->`",
                        i + 1
                    )
                })?;
            skip_next = Some((i + 1, reason.to_owned()));
            i += 1;
            continue;
        }
        if line.trim_start().starts_with("```") {
            let info = line.trim_start().trim_start_matches('`').trim();
            let start = i + 1;
            let end = (start..lines.len())
                .find(|&j| lines[j].trim_start().starts_with("```"))
                .ok_or_else(|| format!("{name}:{}: unclosed code block", i + 1))?;
            let mut words = info.split_whitespace();
            let place = format!("{name}:{}", i + 1);
            if words.next() == Some("sh") {
                let form = match (words.next(), words.next()) {
                    (None, _) => None,
                    (Some("curl"), None) => Some(Form::Curl),
                    (Some("cli"), None) => Some(Form::Cli),
                    _ => {
                        return Err(format!(
                            "{place}: a shell block is ```sh, ```sh curl or ```sh cli, not ```{info}"
                        ));
                    }
                };
                if both_forms {
                    check_form(&place, form, &lines[start..end])?;
                }
                if let Some(curl_at) = curl_block.take()
                    && form != Some(Form::Cli)
                {
                    return Err(format!(
                        "{curl_at}: a ```sh curl block must be followed by its ```sh cli form"
                    ));
                }
                if form == Some(Form::Curl) {
                    curl_block = Some(place.clone());
                }
                if let Some((at, reason)) = skip_next.take() {
                    skipped.push(Skipped {
                        place: format!("{name}:{at}"),
                        reason,
                    });
                } else {
                    let mut own = block(name, &lines[start..end], start + 1)?;
                    for step in &mut own {
                        step.form = form;
                    }
                    steps.extend(own);
                }
            } else if let Some((at, _)) = skip_next {
                return Err(format!(
                    "{name}:{at}: the skip marker is not followed by a ```sh block"
                ));
            }
            i = end + 1;
            continue;
        }
        if !line.trim().is_empty()
            && let Some((at, _)) = &skip_next
        {
            return Err(format!(
                "{name}:{at}: the skip marker must be right before a ```sh block"
            ));
        }
        i += 1;
    }
    if let Some(curl_at) = curl_block {
        return Err(format!(
            "{curl_at}: a ```sh curl block must be followed by its ```sh cli form"
        ));
    }
    Ok((steps, skipped))
}

/// A block runs in the pass its commands belong to: curl calling the API only in the curl pass,
/// `kubenova` only in the CLI pass.
fn check_form(place: &str, form: Option<Form>, lines: &[&str]) -> Result<(), String> {
    for line in lines {
        let code = strip_comment(line);
        let calls_api = code.contains("curl ")
            && ["$API", "$APPS", "KUBENOVA_API_URL"]
                .iter()
                .any(|v| code.contains(v));
        if calls_api && form != Some(Form::Curl) {
            return Err(format!(
                "{place}: `{}` calls the API with curl: mark the block ```sh curl and give its CLI form in a ```sh cli block after it",
                line.trim()
            ));
        }
        if runs_cli(code) && form != Some(Form::Cli) {
            return Err(format!(
                "{place}: `{}` runs kubenova: mark the block ```sh cli",
                line.trim()
            ));
        }
    }
    Ok(())
}

/// Whether the line runs `kubenova` (as a command, after a pipe or in `$(...)`).
fn runs_cli(code: &str) -> bool {
    code.split(|c: char| c.is_whitespace() || "|;&(`".contains(c))
        .any(|word| word == "kubenova")
}

/// The steps of one block; `first` is the line number of its first line.
fn block(name: &str, lines: &[&str], first: usize) -> Result<Vec<Step>, String> {
    let mut steps: Vec<Step> = Vec::new();
    let mut i = 0;
    // Whether the previous line was a command or part of its shown output (so a comment may
    // still be output).
    let mut after_command = false;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        if trimmed.is_empty() {
            after_command = false;
            i += 1;
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if after_command && let Some(last) = steps.last_mut() {
                match &mut last.shows {
                    // A continuation of the shown output: one more space of indent.
                    Some(shown) if comment.starts_with("  ") => {
                        shown.push(' ');
                        shown.push_str(comment.trim());
                        i += 1;
                        continue;
                    }
                    None if is_output(comment.trim()) => {
                        let shown = comment.trim().to_owned();
                        if shown.starts_with("error") || shown.starts_with("Error") {
                            last.fails = true;
                        }
                        last.shows = Some(shown);
                        i += 1;
                        continue;
                    }
                    _ => {}
                }
            }
            after_command = false;
            i += 1;
            continue;
        }
        // A command: gather its continuation lines and here-documents.
        let start = i;
        let mut command = String::new();
        let mut heredoc: Option<String> = None;
        loop {
            let Some(current) = lines.get(i) else {
                return Err(format!(
                    "{name}:{}: the command does not end inside its block",
                    first + start
                ));
            };
            command.push_str(current);
            command.push('\n');
            i += 1;
            if let Some(end) = &heredoc {
                if current.trim() == end {
                    heredoc = None;
                } else {
                    continue;
                }
            } else if let Some(end) = heredoc_end(current) {
                heredoc = Some(end);
                continue;
            }
            let code = strip_comment(current).trim_end().to_owned();
            if heredoc.is_none()
                && !(code.ends_with('\\')
                    || code.ends_with('|')
                    || code.ends_with("&&")
                    || code.ends_with("||"))
            {
                break;
            }
        }
        let trailing = trailing_comment(lines[i - 1]).unwrap_or_default();
        let fails = ["Forbidden", "Unauthorized", "KN-4"]
            .iter()
            .any(|p| trailing.starts_with(p));
        steps.push(Step {
            place: format!("{name}:{}", first + start),
            command,
            shows: None,
            fails,
            form: None,
        });
        after_command = true;
    }
    Ok(steps)
}

fn is_output(comment: &str) -> bool {
    ["{", "[", "error", "Error"]
        .iter()
        .any(|p| comment.starts_with(p))
        || is_result(comment.split_whitespace().next().unwrap_or_default())
}

/// `kind/name`, as kubectl and kubenova name what a command did (`tenant/acme`, `pod/hello`).
fn is_result(word: &str) -> bool {
    word.split_once('/').is_some_and(|(kind, name)| {
        !kind.is_empty()
            && kind.chars().all(|c| c.is_ascii_lowercase() || c == '.')
            && !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c))
    })
}

/// The delimiter of a here-document this line opens (`<<'EOF'`, `<<EOF`, `<<-"EOF"`).
fn heredoc_end(line: &str) -> Option<String> {
    let code = strip_comment(line);
    let at = code.find("<<")?;
    let rest = code[at + 2..].trim_start_matches('-').trim_start();
    let word: String = rest
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

/// The line without a trailing `# comment` (a `#` outside quotes, after a space).
fn strip_comment(line: &str) -> &str {
    match comment_start(line) {
        Some(at) => &line[..at],
        None => line,
    }
}

fn trailing_comment(line: &str) -> Option<&str> {
    comment_start(line).map(|at| line[at + 1..].trim())
}

fn comment_start(line: &str) -> Option<usize> {
    let (mut single, mut double) = (false, false);
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && previous != '\\' => double = !double,
            '#' if !single && !double && previous.is_whitespace() => return Some(at),
            _ => {}
        }
        previous = c;
    }
    None
}

/// Whether `actual` matches what the guide shows: the pieces between `...` appear in `actual`
/// in order (the first at its start, the last at its end), whitespace outside them ignored and
/// whitespace inside them compared as [`squeeze`] leaves it.
pub(crate) fn matches(shown: &str, actual: &str) -> bool {
    let actual = squeeze(actual);
    let pieces: Vec<&str> = shown.trim().split("...").collect();
    let mut rest = actual.as_str();
    for (n, piece) in pieces.iter().enumerate() {
        let piece = squeeze(piece);
        if piece.is_empty() {
            continue;
        }
        let found = if n == 0 {
            rest.starts_with(&piece).then_some(0)
        } else {
            rest.find(&piece)
        };
        let Some(at) = found else { return false };
        rest = &rest[at + piece.len()..];
    }
    pieces.last().is_some_and(|p| p.trim().is_empty()) || rest.trim().is_empty()
}

/// `text` with every run of whitespace made one space, and none next to `{ } [ ] , :`.
fn squeeze(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = String::new();
    for word in words {
        let tight = |c: Option<char>| c.is_some_and(|c| "{}[],:".contains(c));
        if !out.is_empty() && !tight(out.chars().last()) && !tight(word.chars().next()) {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUIDE: &str = r##"# A guide

```sh
make dev            # or: make dev-up
```

<!-- guide: skip (needs a second cluster) -->
```sh
register other
```

```sh curl
. .kubenova/dev/env     # the env
curl -s -H "$AUTH" $API/me
# {"subject":"bootstrap-admin","jti":"..."}
# a prose comment
curl -s $API/clusters/local
# {"name":"local",
#  "conditions":[...]}
curl -s $API/tokens | jq -r '.items[] | .jti' |
  while read -r JTI; do curl -s -X DELETE $API/tokens/$JTI; done
kubectl get configmaps
# error: You must be logged in to the server (KN-401: ...)
kubectl -n kube-system get pods      # Forbidden: outside the project
kubectl get ns   # only acme's "#1" namespaces
kubectl apply -f - <<'EOF'
kind: X
# not a comment
EOF
echo done
```

```sh cli
kubenova whoami -o json
# {"subject":"bootstrap-admin"}
kubenova tenant create acme --wait     # kubenova tenant create is prose here
# tenant/acme created and ready
```

```json
{"not": "run"}
```
"##;

    #[test]
    fn commands_outputs_failures_and_skips() {
        let (steps, skipped) = parse("g.md", GUIDE).expect("parses");
        assert_eq!(
            skipped,
            vec![Skipped {
                place: "g.md:7".into(),
                reason: "needs a second cluster".into()
            }]
        );
        let commands: Vec<&str> = steps.iter().map(|s| s.command.trim()).collect();
        assert_eq!(commands[0], "make dev            # or: make dev-up");
        assert_eq!(commands[1], ". .kubenova/dev/env     # the env");
        assert!(commands[4].ends_with("done"), "{}", commands[4]);
        assert!(
            commands[8].contains("# not a comment\nEOF"),
            "{}",
            commands[8]
        );
        assert_eq!(commands[9], "echo done");
        assert_eq!(steps.len(), 12);
        let forms: Vec<Option<Form>> = steps.iter().map(|s| s.form).collect();
        assert_eq!(
            forms,
            [
                vec![None],
                vec![Some(Form::Curl); 9],
                vec![Some(Form::Cli); 2]
            ]
            .concat()
        );
        assert_eq!(
            steps[11].shows.as_deref(),
            Some("tenant/acme created and ready")
        );
        assert_eq!(
            steps[2].shows.as_deref(),
            Some(r#"{"subject":"bootstrap-admin","jti":"..."}"#)
        );
        assert_eq!(
            steps[3].shows.as_deref(),
            Some(r#"{"name":"local", "conditions":[...]}"#)
        );
        assert_eq!(steps[2].place, "g.md:14");
        let failing: Vec<usize> = (0..steps.len()).filter(|&n| steps[n].fails).collect();
        assert_eq!(failing, vec![5, 6]);
        assert!(steps[7].shows.is_none() && !steps[7].fails);
    }

    #[test]
    fn a_skip_marker_needs_a_reason_and_a_block() {
        assert!(parse("g.md", "<!-- guide: skip -->\n```sh\nx\n```\n").is_err());
        assert!(parse("g.md", "<!-- guide: skip (why) -->\ntext\n```sh\nx\n```\n").is_err());
        assert!(parse("g.md", "```sh\nx \\\n```\n").is_err());
        assert!(parse("g.md", "```sh\nx\n").is_err());
    }

    #[test]
    fn each_curl_block_has_its_cli_form_and_forms_are_marked() {
        let curl = "```sh curl\ncurl -s -H \"$AUTH\" $API/me\n```\n";
        let cli = "```sh cli\nkubenova whoami\n```\n";
        assert!(parse("g.md", &format!("{curl}\ntext\n\n{cli}")).is_ok());
        // No CLI form after it (at the end, or another block first).
        let err = parse("g.md", curl).expect_err("no cli form");
        assert!(err.contains("followed by its ```sh cli form"), "{err}");
        assert!(parse("g.md", &format!("{curl}```sh\nkubectl get ns\n```\n{cli}")).is_err());
        // Skipped forms still pair.
        let skip = "<!-- guide: skip (why) -->\n";
        assert!(parse("g.md", &format!("{skip}{curl}{skip}{cli}")).is_ok());
        // curl calling the API outside a `sh curl` block, kubenova outside a `sh cli` one.
        let err = parse("g.md", "```sh\ncurl -s $API/me\n```\n").expect_err("untagged curl");
        assert!(err.contains("mark the block ```sh curl"), "{err}");
        assert!(parse("g.md", "```sh cli\ncurl -s \"$KUBENOVA_API_URL/x\"\n```\n").is_err());
        let err = parse("g.md", "```sh\nx=$(kubenova whoami)\n```\n").expect_err("untagged cli");
        assert!(err.contains("mark the block ```sh cli"), "{err}");
        assert!(
            parse(
                "g.md",
                "```sh curl\necho | kubenova x\n```\n```sh cli\n```\n"
            )
            .is_err()
        );
        // curl to something else, and prose naming kubenova, are plain shell.
        assert!(parse("g.md", "```sh\ncurl -s localhost:8080   # kubenova\n```\n").is_ok());
        assert!(parse("g.md", "```sh bash\nls\n```\n").is_err());
    }

    #[test]
    fn shown_output_with_ellipses() {
        let shown =
            r#"{"subject":"bootstrap-admin","roles":["admin"],"jti":"...","expiresAt":"..."}"#;
        assert!(matches(
            shown,
            "{\"subject\":\"bootstrap-admin\",\"roles\":[\"admin\"],\"jti\":\"x-1\",\"expiresAt\":\"2026\"}\n"
        ));
        assert!(!matches(
            shown,
            r#"{"subject":"mallory","roles":["admin"],"jti":"x","expiresAt":"y"}"#
        ));
        assert!(!matches(
            shown,
            r#"{"subject":"bootstrap-admin","roles":["admin"],"jti":"x"}"#
        ));
        assert!(matches(
            "error: You must be logged in to the server (KN-401: this token was revoked...)",
            "error: You must be logged in to the server (KN-401: this token was revoked; ask for a new kubeconfig)"
        ));
        assert!(matches("{...}", "{}"));
        // Pretty-printed JSON matches the one line a guide shows; tables' spacing does not count.
        assert!(matches(
            r#"{"roles":["admin"],"subject":"bootstrap-admin"}"#,
            "{\n  \"roles\": [\n    \"admin\"\n  ],\n  \"subject\": \"bootstrap-admin\"\n}\n"
        ));
        assert!(!matches(
            r#"{"roles":["admin"],"subject":"bootstrap-admin"}"#,
            "{\n  \"roles\": [\n    \"ops\"\n  ],\n  \"subject\": \"bootstrap-admin\"\n}\n"
        ));
        assert!(matches(
            "app/grafana running (revision grafana-v1)",
            "app/grafana running   (revision grafana-v1)\n"
        ));
        assert!(!matches(
            "app/grafana running (revision grafana-v1)",
            "app/grafana running (revision grafana-v2)"
        ));
        assert!(is_output("tenant/acme created and ready"));
        assert!(!is_output("docs/examples/x.json: the body"));
        assert!(!is_output("the agent makes the namespace"));
        assert!(!matches("{\"a\":1}", "{\"a\":1} trailing"));
    }
}
