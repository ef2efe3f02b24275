#!/usr/bin/env python3
"""Fails when a tracked file holds a credential: a signed JWT, a PEM private key, or a
kubeconfig's embedded client key or bearer token.

`make verify` runs it on the repository, after `--self-test`, which plants each kind of
credential in a scratch repository and checks that every one is caught.

Test fixtures that must hold a real-looking credential (a published RFC test key, say) are
listed in hack/credential-fixtures with a reason; nothing else is exempt.
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile

# header.payload.signature, base64url; a signature of 40+ characters is what real keys make
# (ES256: 86, EdDSA: 86, RS256: 342), so a made-up placeholder such as `c2lnbmF0dXJl` passes.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{40,}")
PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----")
BASE64_LINE = re.compile(r"[A-Za-z0-9+/=]{40,}")
KUBECONFIG = re.compile(r"^\s*(client-key-data|token):\s*['\"]?([A-Za-z0-9+/=._-]{20,})", re.M)


def is_jwt(candidate: str) -> bool:
    """A JWT-shaped string whose header decodes to JSON with an `alg`."""
    header = candidate.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
        return "alg" in json.loads(decoded)
    except (ValueError, UnicodeDecodeError):
        return False


def findings(text: str):
    for match in JWT.finditer(text):
        if is_jwt(match.group(0)):
            yield text.count("\n", 0, match.start()) + 1, "a signed JWT"
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if PEM_BEGIN.search(line):
            # A key has a body: the next line (or the rest of this one) is base64.
            rest = line[PEM_BEGIN.search(line).end():] + " " + " ".join(lines[i + 1 : i + 2])
            if BASE64_LINE.search(rest):
                yield i + 1, "a PEM private key"
    for match in KUBECONFIG.finditer(text):
        yield text.count("\n", 0, match.start()) + 1, f"a kubeconfig `{match.group(1)}`"


def fixtures(root: str) -> set:
    path = os.path.join(root, "hack", "credential-fixtures")
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {
            line.split("#", 1)[0].strip()
            for line in f
            if line.split("#", 1)[0].strip()
        }


def scan(root: str) -> list:
    files = subprocess.run(
        ["git", "-C", root, "ls-files", "-z"], check=True, capture_output=True
    ).stdout.decode().split("\0")
    allowed = fixtures(root)
    problems = []
    for name in filter(None, files):
        if name in allowed:
            continue
        try:
            with open(os.path.join(root, name), encoding="utf-8") as f:
                text = f.read()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for line, what in findings(text):
            problems.append(f"{name}:{line}: {what}")
    return problems


def self_test() -> None:
    key = subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519"], check=True, capture_output=True
    ).stdout.decode()
    segment = lambda obj: base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    jwt = f"{segment({'alg': 'EdDSA', 'kid': 'k'})}.{segment({'sub': 'bob'})}.{'A' * 86}"
    planted = {
        "key.pem": key,
        "notes.md": f"try it: curl -H 'Authorization: Bearer {jwt}'\n",
        "bob.yaml": "users:\n- name: bob\n  user:\n    token: " + jwt + "\n",
        "admin.yaml": "users:\n- user:\n    client-key-data: " + "QUJD" * 20 + "\n",
        "src.rs": 'const K: &str = "' + key.replace("\n", "\\n\\\n") + '";\n',
    }
    harmless = {
        "ok.rs": 'const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";\n'
        'const JWT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl-_x";\n',
        "ok.yaml": "token: ${TOKEN}\n",
    }
    with tempfile.TemporaryDirectory() as root:
        subprocess.run(["git", "init", "-q", root], check=True)
        for name, text in {**planted, **harmless}.items():
            with open(os.path.join(root, name), "w") as f:
                f.write(text)
        subprocess.run(["git", "-C", root, "add", "."], check=True)
        caught = {p.split(":", 1)[0] for p in scan(root)}
        missed = set(planted) - caught
        wrong = caught - set(planted)
        if missed or wrong:
            sys.exit(f"credential check self-test: missed {sorted(missed)}, flagged {sorted(wrong)}")


def main() -> None:
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return
    root = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], check=True, capture_output=True
    ).stdout.decode().strip()
    problems = scan(root)
    if problems:
        print("error: credentials in tracked files (remove them, and rotate them if real):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        print("A test fixture that must stay goes in hack/credential-fixtures, with a reason.", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
