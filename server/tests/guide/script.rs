//! A guide's shell blocks as steps: each command, what the guide shows it prints, and whether it
//! is meant to fail. Pure parsing, unit-tested below.
//!
//! The conventions a guide follows (docs/development.md, "Guides are tests"):
//! - Only fenced ```` ```sh ```` blocks run, in order, in one shell. A block preceded by the line
//!   `<!-- guide: skip (reason) -->` does not run; the reason is required.
//! - A command continues over lines ending in `\`, `|`, `&&` or `||`, and through a here-document
//!   (`<<'EOF'` ... `EOF`).
//! - A comment line right after a command that starts with `{`, `[`, `error` or `Error` is the
//!   output the command prints (further comment lines indented by one more space continue it).
//!   `...` in it stands for anything; the rest must appear, in that order.
//! - A command whose output starts with `error`/`Error`, or whose trailing comment starts with
//!   `Forbidden`, `Unauthorized` or `KN-4`, is meant to fail; it must fail, and the shown output
//!   is compared with what it printed on stderr and stdout.

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
}

/// A block the guide marks as not runnable here, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub(crate) place: String,
    pub(crate) reason: String,
}

const SKIP: &str = "<!-- guide: skip";

/// The steps of `markdown` (the file `name`), and the blocks it skips.
pub(crate) fn parse(name: &str, markdown: &str) -> Result<(Vec<Step>, Vec<Skipped>), String> {
    let lines: Vec<&str> = markdown.lines().collect();
    let (mut steps, mut skipped) = (Vec::new(), Vec::new());
    let mut skip_next: Option<(usize, String)> = None;
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
            let lang = line.trim_start().trim_start_matches('`').trim();
            let start = i + 1;
            let end = (start..lines.len())
                .find(|&j| lines[j].trim_start().starts_with("```"))
                .ok_or_else(|| format!("{name}:{}: unclosed code block", i + 1))?;
            if lang == "sh" {
                if let Some((at, reason)) = skip_next.take() {
                    skipped.push(Skipped {
                        place: format!("{name}:{at}"),
                        reason,
                    });
                } else {
                    steps.extend(block(name, &lines[start..end], start + 1)?);
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
    Ok((steps, skipped))
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
        });
        after_command = true;
    }
    Ok(steps)
}

fn is_output(comment: &str) -> bool {
    ["{", "[", "error", "Error"]
        .iter()
        .any(|p| comment.starts_with(p))
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
/// in order (the first at its start, the last at its end), whitespace outside them ignored.
pub(crate) fn matches(shown: &str, actual: &str) -> bool {
    let actual = actual.trim();
    let pieces: Vec<&str> = shown.trim().split("...").collect();
    let mut rest = actual;
    for (n, piece) in pieces.iter().enumerate() {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        let found = if n == 0 {
            rest.starts_with(piece).then_some(0)
        } else {
            rest.find(piece)
        };
        let Some(at) = found else { return false };
        rest = &rest[at + piece.len()..];
    }
    pieces.last().is_some_and(|p| p.trim().is_empty()) || rest.trim().is_empty()
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

```sh
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
        assert_eq!(steps.len(), 10);
        assert_eq!(
            steps[2].shows.as_deref(),
            Some(r#"{"subject":"bootstrap-admin","jti":"..."}"#)
        );
        assert_eq!(
            steps[3].shows.as_deref(),
            Some(r#"{"name":"local","conditions":[...]}"#)
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
        assert!(!matches("{\"a\":1}", "{\"a\":1} trailing"));
    }
}
