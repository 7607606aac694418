"""A TUI in another language signing in through `loginkit serve --stdio`, with Python's standard library only.

Run by test/cli/serve-stdio.test.ts: `python3 serve_stdio_client.py <scenario>` with LOGINKIT_NODE and
LOGINKIT_CLI (how to start loginkit), SERVE_TRANSCRIPT (every line sent and received is appended there, for
the schema check) and, for the api_key scenario, SERVE_GOOD_KEY and SERVE_BAD_KEY. What the Node test needs
to know (the device code, the token) is printed on stdout as one JSON object per line.
"""

import json
import os
import subprocess
import sys
import threading

# A scenario takes a few seconds; a server that stops answering must not hang the test.
DEADLINE_SECONDS = 20


class Server:
    """One `loginkit serve --stdio` process and the messages it sent that nobody has read yet."""

    def __init__(self):
        self.process = subprocess.Popen(
            [os.environ["LOGINKIT_NODE"], os.environ["LOGINKIT_CLI"], "serve", "--stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.watchdog = threading.Timer(DEADLINE_SECONDS, self.process.kill)
        self.watchdog.daemon = True
        self.watchdog.start()
        self.transcript = open(os.environ["SERVE_TRANSCRIPT"], "a", encoding="utf-8")
        self.next_id = 1
        self.unread = []
        self.received = []

    def send(self, message):
        line = json.dumps(message)
        self.transcript.write(line + "\n")
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def receive(self):
        line = self.process.stdout.readline()
        if line == "":
            raise AssertionError("the server closed stdout (or gave no answer in time)")
        self.transcript.write(line)
        self.received.append(line)
        return json.loads(line)

    def call(self, method, params=None):
        """Sends a request and returns its response (result or error); notifications meanwhile are kept."""
        request_id = self.next_id
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        while True:
            answer = self.receive()
            if answer.get("id") == request_id:
                return answer
            self.unread.append(answer)

    def result(self, method, params=None):
        answer = self.call(method, params)
        if "error" in answer:
            raise AssertionError(f"{method} failed: {answer['error']}")
        return answer["result"]

    def state(self, sign_in, step):
        """Waits for the login/state notification of `step` for this sign-in; fails on an ending that is not it."""
        while True:
            message = self.unread.pop(0) if self.unread else self.receive()
            if message.get("method") != "login/state" or message["params"]["signIn"] != sign_in:
                continue
            state = message["params"]["state"]
            if state["step"] == step:
                return state
            if state["step"] in ("done", "failed", "cancelled"):
                raise AssertionError(f"expected step {step}, the sign-in ended: {state}")

    def close(self):
        self.process.stdin.close()
        code = self.process.wait(timeout=DEADLINE_SECONDS)
        self.watchdog.cancel()
        self.transcript.close()
        if code != 0:
            raise AssertionError(f"loginkit serve exited {code}")


def tell(**facts):
    """Tells the Node test something, one JSON object per line."""
    print(json.dumps(facts), flush=True)


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def browser(server):
    sign_in = server.result("login", {"provider": "demo", "method": "browser"})["signIn"]
    waiting = server.state(sign_in, "browser")
    expect(waiting["url"].startswith("http://127.0.0.1:"), f"the URL to show: {waiting['url']}")
    done = server.state(sign_in, "done")
    expect(done["account"]["email"] == "alice@example.test", f"the account: {done}")
    token = server.result("token", {"provider": "demo"})
    expect(token["type"] == "oauth", f"an access token: {token['type']}")
    tell(token=token["token"])
    status = server.result("status", {"provider": "demo"})["providers"][0]
    expect(status["loggedIn"] is True, f"status says signed in: {status}")
    logout = server.result("logout", {"provider": "demo"})
    expect(logout["removed"] and logout["revocation"] == "revoked", f"logout revoked and removed: {logout}")
    after = server.call("token", {"provider": "demo"})
    expect(after["error"]["code"] == -32000 and after["error"]["data"]["code"] == "login_required", f"token after logout: {after}")


def device(server):
    sign_in = server.result("login", {"provider": "demo", "method": "device"})["signIn"]
    code = server.state(sign_in, "device")
    tell(device={"verificationUri": code["verificationUri"], "userCode": code["userCode"]})
    done = server.state(sign_in, "done")
    expect(done["result"]["method"] == "oauth", f"signed in: {done}")


def cancelled(server):
    started = server.result("login", {"provider": "demo"})
    sign_in = started["signIn"]
    server.state(sign_in, "choosing_method")
    server.result("login/chooseMethod", {"signIn": sign_in, "method": "browser"})
    server.state(sign_in, "browser")
    answer = server.result("login/cancel", {"signIn": sign_in})
    expect(answer["state"]["step"] == "cancelled", f"the answer to cancel: {answer}")
    late = server.call("login/paste", {"signIn": sign_in, "text": "http://127.0.0.1/callback?code=x&state=y"})
    expect(late["error"]["code"] == -32002 and late["error"]["data"]["step"] == "cancelled", f"input after cancel: {late}")
    token = server.call("token", {"provider": "demo"})
    expect(token["error"]["data"]["code"] == "login_required", f"nothing stored: {token}")
    expect(server.call("login/cancel", {"signIn": "99"})["error"]["code"] == -32001, "an unknown sign-in")
    expect(server.call("sign-in")["error"]["code"] == -32601, "an unknown method")
    expect(server.call("login", {"provider": "demo", "colour": "red"})["error"]["code"] == -32602, "an unknown param")
    unknown = server.call("status", {"provider": "no-such-provider"})["error"]
    expect(unknown["code"] == -32000 and unknown["data"]["code"] == "unknown_provider", f"loginkit's code: {unknown}")


def api_key(server):
    good, bad = os.environ["SERVE_GOOD_KEY"], os.environ["SERVE_BAD_KEY"]
    sign_in = server.result("login", {"provider": "anthropic"})["signIn"]
    server.state(sign_in, "api_key")
    server.result("login/submitKey", {"signIn": sign_in, "key": bad})
    failed = server.state(sign_in, "failed")
    expect(failed["code"] == "provider_error" and "\n" not in failed["reason"], f"a refused key: {failed}")
    server.result("login/retry", {"signIn": sign_in})
    server.state(sign_in, "api_key")
    server.result("login/submitKey", {"signIn": sign_in, "key": good})
    done = server.state(sign_in, "done")
    expect(done["result"]["key"] != good and done["result"]["verified"] is True, f"the key is masked: {done['result']}")
    notifications = [line for line in server.received if '"method"' in line]
    expect(not any(good in line or bad in line for line in notifications), "no notification carries the key")
    expect(server.result("token", {"provider": "anthropic"})["token"] == good, "token answers with the key when asked")


SCENARIOS = {"browser": browser, "device": device, "cancelled": cancelled, "api_key": api_key}

if __name__ == "__main__":
    serving = Server()
    SCENARIOS[sys.argv[1]](serving)
    serving.close()
    tell(ok=True)
