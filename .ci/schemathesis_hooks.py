"""Schemathesis hooks for .ci/schemathesis.

- Auth by each operation's own `security`: the session token (signed in through the
  `file` SMS provider) for `token`, the IM server's key for `service_key`, an operator's
  key for `admin_key`. A route that ends the session (logout, revokesession) is fine:
  once it succeeds, or a response says 401 to our token, the next case signs in again.
- `envelope_code_500`: the contract answers HTTP 200 for what a route produces, so a
  server failure shows as the envelope's `code` 500, which Schemathesis's own checks
  (HTTP 5xx) would miss.
- `missing_credential_is_401`: the contract's form of Schemathesis's
  `missing_required_header` (which wants HTTP 401): a request to a route that needs a
  credential and carries none is answered HTTP 200 with `code` 401.

Run as a script it serves .ci/schemathesis: `signin` signs in once and prints the
token, after creating a few other users (before fuzzing, to fail early and clearly);
`plan <openapi.json>` lists the runs.
"""

import json
import os
import re
import sys
import threading
import urllib.parse
import urllib.request

BASE_URL = os.environ.get("IM_ST_BASE_URL", "")
SMS_FILE = os.environ.get("IM_ST_SMS_FILE", "")
SERVICE_KEY = os.environ.get("IM_ST_SERVICE_KEY", "")
ADMIN_KEY = os.environ.get("IM_ST_ADMIN_KEY", "")
# A number of its own, so the fuzzer's sms/send (with the document's example numbers)
# never replaces our code between sending and signing in.
NATION_CODE, PHONE = "86", "16511110000"


def _post(path, fields):
    body = urllib.parse.urlencode(fields).encode()
    req = urllib.request.Request(BASE_URL + path, data=body, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(req, timeout=30) as res:
        envelope = json.load(res)
    if envelope.get("code") != 0:
        raise RuntimeError(f"{path}: {envelope}")
    return envelope["data"]


def _last_code(phone):
    with open(SMS_FILE, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    codes = [m["code"] for m in lines if m.get("phone") == phone]
    if not codes:
        raise RuntimeError(f"no code for {phone} in {SMS_FILE}")
    return codes[-1]


# Other users, so relations and lookups have someone to find besides the caller.
OTHERS = ["16511110001", "16511110002", "16511110003"]


def sign_in(phone=PHONE):
    """A fresh session token (web) for the user of `phone`, created on first sign-in."""
    _post("/sms/send", {"nation_code": NATION_CODE, "phone": phone})
    code = _last_code(phone)
    data = _post(
        "/accessuser/signinbysms",
        {"nation_code": NATION_CODE, "phone": phone, "check_code": code, "device": "web"},
    )
    return data["token"]


class Session:
    """The current token; signed in again once a response says it is gone."""

    def __init__(self):
        self.lock = threading.Lock()
        self.token = os.environ.get("IM_ST_TOKEN") or None

    def current(self):
        with self.lock:
            if self.token is None:
                self.token = sign_in()
            return self.token

    def gone(self, token):
        with self.lock:
            if self.token == token:
                self.token = None


SESSION = Session()


def _schemes(operation):
    raw = operation.definition.raw
    security = raw.get("security")
    if security is None:
        security = operation.schema.raw_schema.get("security", [])
    return {name for requirement in security for name in requirement}


# The parts of the API, each a run of its own with its own credential, so an operator's
# actions (bans, deletions) never pull the client run's user away. Together they hold
# every path of the document, whatever it lists.
PARTS = [
    ("client", "--exclude-path-regex", "^/(internal|admin)/"),
    ("internal", "--include-path-regex", "^/internal/"),
    ("admin", "--include-path-regex", "^/admin/"),
]
PHASES = ["examples", "coverage", "fuzzing"]


def plan(document):
    """One line per part with routes: name, filter option, phases (stateful only where
    the part's operations link to each other: Schemathesis refuses a run without links)."""
    with open(document, encoding="utf-8") as f:
        doc = json.load(f)
    for name, option, regex in PARTS:
        include = option.startswith("--include")
        paths = {
            path: item
            for path, item in doc["paths"].items()
            if bool(re.search(regex, path)) == include
        }
        ops = [
            op
            for item in paths.values()
            for method, op in item.items()
            if method in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
        ]
        if not ops:
            continue
        ids = {op.get("operationId") for op in ops}
        linked = any(
            link.get("operationId") in ids
            for op in ops
            for response in op.get("responses", {}).values()
            for link in response.get("links", {}).values()
        )
        phases = PHASES + (["stateful"] if linked else [])
        print(f"{name}\t{option}={regex}\t{','.join(phases)}")


if __name__ == "__main__":
    if sys.argv[1:] == ["signin"]:
        for other in OTHERS:
            sign_in(other)
        print(sign_in())
    elif sys.argv[1:2] == ["plan"] and len(sys.argv) == 3:
        plan(sys.argv[2])
    else:
        sys.exit("usage: schemathesis_hooks.py signin | plan <openapi.json>")
    sys.exit(0)

import schemathesis  # noqa: E402  (not needed by the sign-in above)


@schemathesis.auth(refresh_interval=None)
class ByOperationSecurity:
    def get(self, case, ctx):
        schemes = _schemes(ctx.operation)
        path = ctx.operation.path
        if "token" in schemes:
            return ("token", SESSION.current())
        if "service_key" in schemes or path.startswith("/internal/"):
            return ("Authorization", f"Bearer {SERVICE_KEY}")
        if "admin_key" in schemes or path.startswith("/admin/"):
            return ("Authorization", f"Bearer {ADMIN_KEY}")
        return None

    def set(self, case, data, ctx):
        if data is None:
            return
        name, value = data
        case.headers = case.headers or {}
        case.headers[name] = value


def _envelope(response):
    if "json" not in (response.headers.get("content-type") or [""])[0]:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) and "code" in body else None


# Routes that may end the caller's session when they succeed.
ENDS_SESSION = {"/accessuser/logout", "/accessuser/revokesession"}


@schemathesis.hook
def after_call(context, case, response):
    envelope = _envelope(response)
    sent = response.request.headers.get("token")
    if envelope is None or not sent:
        return
    code = envelope.get("code")
    if code == 401 or (code == 0 and case.operation.path in ENDS_SESSION):
        SESSION.gone(sent)


@schemathesis.check
def envelope_code_500(ctx, response, case):
    envelope = _envelope(response)
    if envelope is not None and envelope.get("code") == 500:
        raise AssertionError(f"Envelope code 500: {envelope.get('message')!r}")
    return None


@schemathesis.check
def missing_credential_is_401(ctx, response, case):
    if not _schemes(case.operation) & {"token", "service_key", "admin_key"}:
        return None
    sent = response.request.headers
    if "token" in sent or "authorization" in sent:
        return None
    envelope = _envelope(response)
    if response.status_code != 200 or envelope is None or envelope.get("code") != 401:
        raise AssertionError(
            f"No credential sent: expected HTTP 200 with code 401, got HTTP "
            f"{response.status_code} with {envelope}"
        )
    return None
