"""The cold path and the soak, for scripts/bench (`--cold`, `--soak`).

`--cold`: Microsoft's latency, not the machine, decides how long a cold
request takes, so the runner injects a fixed latency into every simulated
Microsoft service (`POST /_sandbox/faults {"service": ..., "latency_ms": 50}`,
latency only) and divides each request's time by it: the number of round
trips made one after another. Each trial starts a fresh cloud and a fresh bot
(`joinchat serve`, its own Redis prefix: a fresh store), waits until the bot
is ready and holds its tokens, then times one request. The calls per service
come from `GET /_sandbox/calls`. Single flight: 100 concurrent first refreshes
of one record on a fresh bot, their calls set against one refresh's.

`--soak [minutes]`: a steady, modest mixed load (warm refreshes, commands,
cold refreshes of random records, Join clicks, help) against one bot for the
given minutes; the bot's RSS sampled every `--soak-sample` seconds, every
answer checked; the result in bench/results/soak.md.

Helpers (`Children`, `http`, …) come from the runner, passed in as `h`.
"""

import concurrent.futures
import json
import os
import statistics
import subprocess
import threading
import time
import uuid

LATENCY_MS = 50
SERVICES = ("dataverse", "graph", "connector", "entra")
COMMAND = "chats for lead Contoso Coffee expansion"
RECORD = "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b"
DEAL_ROOM = "19:contoso-coffee-expansion@thread.v2"
COLD_MARK = "<!-- cold path: scripts/bench --cold -->"
COLD_END = "<!-- end of cold path -->"
# What the same requests took before the cold path was reworked (issue 14:
# 577 ms for the command with 50 ms injected).
BASELINE = {"command": "≈ 11", "join": "≈ 5"}


def build(args, h):
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(h.ROOT, "target"))
    if not args.no_build:
        h.log("building joinchat (release)")
        subprocess.run(
            ["cargo", "build", "--release", "--quiet", "--bin", "joinchat"],
            cwd=h.ROOT,
            check=True,
            timeout=1800,
        )
    binary = os.path.join(target, "release", "joinchat")
    if not os.path.exists(binary):
        raise h.BenchError(f"{binary} is missing; build it or drop --no-build")
    return binary


class Trial:
    """A fresh cloud and a fresh bot (its own Redis prefix), ready, tokens in hand."""

    def __init__(self, h, args, children, ctx, name, bot_env=None):
        self.h = h
        self.children = children
        cloud_port, bot_port = h.free_port(), h.free_port()
        self.cloud_url = f"http://127.0.0.1:{cloud_port}"
        self.bot_url = f"http://127.0.0.1:{bot_port}"
        cloud_env = dict(os.environ, JOINCHAT_APP_ID=ctx["app_id"], JOINCHAT_APP_PASSWORD=ctx["app_password"], RUST_LOG="warn")
        self.cloud = children.start(
            f"{name}-cloud",
            [
                ctx["binary"],
                "cloud",
                "--listen",
                f"127.0.0.1:{cloud_port}",
                "--bot-endpoint",
                f"{self.bot_url}/api/messages",
            ],
            env=cloud_env,
        )
        h.wait_until(
            f"{name}: cloud",
            lambda: h.http("GET", f"{self.cloud_url}/_sandbox/world", timeout=2)[0] == 200,
            60,
            self.cloud,
        )
        self.world = h.http_json("GET", f"{self.cloud_url}/_sandbox/world")
        urls = self.world["urls"]
        env = dict(os.environ)
        for stale in ("JOINCHAT_ALLOW_EMULATOR", "JOINCHAT_TEAMS_APP_ID"):
            env.pop(stale, None)
        env.update(
            {
                "JOINCHAT_LISTEN": f"127.0.0.1:{bot_port}",
                "JOINCHAT_APP_ID": ctx["app_id"],
                "JOINCHAT_APP_PASSWORD": ctx["app_password"],
                "JOINCHAT_TENANT_ID": self.world["tenant_id"],
                "JOINCHAT_OPENID_METADATA_URL": urls["openid_metadata"],
                "JOINCHAT_LOGIN_URL": urls["login"],
                "JOINCHAT_GRAPH_URL": urls["graph"],
                "JOINCHAT_DATAVERSE_URL": urls["dataverse"],
                "JOINCHAT_REDIS_URL": ctx["redis_url"],
                "JOINCHAT_REDIS_PREFIX": f"bench-{name}-{uuid.uuid4().hex[:8]}:",
                "RUST_LOG": args.rust_log,
            }
        )
        env.update(bot_env or {})
        self.bot = children.start(f"{name}-bot", [ctx["binary"], "serve"], env=env)
        h.wait_until(
            f"{name}: bot ready",
            lambda: h.http("GET", f"{self.bot_url}/readyz", timeout=2)[0] == 200,
            30,
            self.bot,
        )
        # Once started, no request waits on Entra: wait for the three tokens.
        h.wait_until(f"{name}: tokens fetched", lambda: len(self.token_fetches()) >= 3, 30, self.bot)

    def token_fetches(self):
        return [
            c
            for c in self.calls()
            if c["service"] == "entra" and c["path"].endswith("/oauth2/v2.0/token") and c["status"] == 200
        ]

    def calls(self):
        return self.h.http_json("GET", f"{self.cloud_url}/_sandbox/calls")

    def inject_latency(self):
        for service in SERVICES:
            self.h.http_json("POST", f"{self.cloud_url}/_sandbox/faults", {"service": service, "latency_ms": LATENCY_MS})

    def clear_faults(self):
        self.h.http("DELETE", f"{self.cloud_url}/_sandbox/faults")

    def timed(self, method, path, body):
        """One control API request, timed; its answer and the calls it caused."""
        before = len(self.calls())
        started = time.monotonic()
        answer = self.h.http_json(method, f"{self.cloud_url}/_sandbox/{path}", body, timeout=60)
        elapsed_ms = (time.monotonic() - started) * 1000
        return answer, elapsed_ms, per_service(self.calls()[before:])

    def stop(self):
        self.children.stop(self.bot)
        self.children.stop(self.cloud)


def per_service(calls):
    return {service: sum(1 for c in calls if c["service"] == service) for service in SERVICES}


def card_text(value):
    return json.dumps(value)


def run_cold(args, h, children, ctx):
    """Every figure of the cold section, as rows."""
    rows, trials = [], args.cold_trials

    def trial_rows(label, key, run):
        samples = []
        for n in range(trials):
            samples.append(run(n))
        elapsed = statistics.median(s[0] for s in samples)
        calls = samples[len(samples) // 2][1]
        rows.append({"label": label, "key": key, "ms": elapsed, "trips": elapsed / LATENCY_MS, "calls": calls, "samples": [round(s[0]) for s in samples]})
        h.log(f"cold: {label}: {elapsed:.0f} ms ≈ {elapsed / LATENCY_MS:.1f} round trips, calls {calls}")

    def command(n):
        trial = Trial(h, args, children, ctx, f"command{n}")
        trial.inject_latency()
        answer, ms, calls = trial.timed("POST", "users/alex/say", {"text": COMMAND})
        if answer.get("status") != 200 or "Hover over to join this chat" not in card_text(answer):
            raise h.BenchError(f"cold command answered {card_text(answer)[:300]}")
        again, warm_ms, warm_calls = trial.timed("POST", "users/alex/say", {"text": COMMAND})
        refresh, refresh_ms, refresh_calls = trial.timed("POST", "users/alex/invoke", {"verb": "refresh", "data": {"entity": "lead", "record_id": RECORD}})
        trial.stop()
        warm.setdefault("command", []).append((warm_ms, warm_calls))
        warm.setdefault("refresh", []).append((refresh_ms, refresh_calls))
        return ms, calls

    def join(n):
        trial = Trial(h, args, children, ctx, f"join{n}")
        trial.inject_latency()
        data = {"entity": "lead", "record_id": RECORD, "chat_id": DEAL_ROOM}
        answer, ms, calls = trial.timed("POST", "users/alex/invoke", {"verb": "join", "data": data})
        if "You joined" not in card_text(answer.get("body")):
            raise h.BenchError(f"cold join answered {card_text(answer)[:300]}")
        notice_ms = wait_for_notice(h, trial)
        notices.append(notice_ms)
        trial.stop()
        return ms, calls

    def first_refresh(n):
        trial = Trial(h, args, children, ctx, f"refresh{n}")
        trial.inject_latency()
        answer, ms, calls = trial.timed("POST", "users/alex/invoke", {"verb": "refresh", "data": {"entity": "lead", "record_id": RECORD}})
        if "Hover over to join this chat" not in card_text(answer.get("body")):
            raise h.BenchError(f"cold refresh answered {card_text(answer)[:300]}")
        trial.stop()
        return ms, calls

    warm, notices = {}, []
    trial_rows(f"a person's first `{COMMAND}`", "command", command)
    trial_rows("a first Join click (the deal room)", "join", join)
    trial_rows("a first card refresh of the record", "refresh", first_refresh)
    for key, label in (("command", "the same command again (cache warm; the name search is never cached)"), ("refresh", "the card refresh again (warm: one MGET)")):
        samples = warm[key]
        elapsed = statistics.median(s[0] for s in samples)
        rows.append({"label": label, "key": f"warm-{key}", "ms": elapsed, "trips": elapsed / LATENCY_MS, "calls": samples[len(samples) // 2][1], "samples": [round(s[0]) for s in samples]})
    flight = single_flight(args, h, children, ctx)
    return rows, flight, notices


def wait_for_notice(h, trial):
    """ms until the joined notice is in the chat, after the join answered (≤ 10 s)."""
    started = time.monotonic()
    encoded = urllib_quote(DEAL_ROOM)
    while time.monotonic() - started < 10:
        view = h.http_json("GET", f"{trial.cloud_url}/_sandbox/chats/{encoded}")
        if any(m["kind"] == "bot" and "joined the chat" in m["text"] for m in view["messages"]):
            return (time.monotonic() - started) * 1000
        time.sleep(0.01)
    raise h.BenchError("the joined notice did not follow the join within 10 s")


def urllib_quote(text):
    import urllib.parse

    return urllib.parse.quote(text, safe="")


def signed_refreshes(h, trial, count):
    """`count` refresh invokes as the simulated Teams makes them (each its own id), and a channel token."""
    token = h.http_json(
        "POST",
        f"{trial.cloud_url}/_sandbox/tokens/channel",
        {"service_url": trial.world["urls"]["connector"], "channel_id": "msteams"},
    )["token"]
    bodies = [
        json.dumps(
            h.http_json(
                "POST",
                f"{trial.cloud_url}/_sandbox/users/alex/activity",
                {"type": "invoke", "verb": "refresh", "data": {"entity": "lead", "record_id": RECORD}},
            )
        ).encode()
        for _ in range(count)
    ]
    return token, bodies


def single_flight(args, h, children, ctx):
    """100 concurrent first refreshes of one record against one."""
    budget = {"JOINCHAT_COLD_LOOKS_PER_MINUTE": "1000", "JOINCHAT_TENANT_COLD_LOOKS_PER_MINUTE": "10000"}
    results = {}
    for label, count in (("one", 1), ("many", args.flight_requests)):
        trial = Trial(h, args, children, ctx, f"flight-{label}", bot_env=budget)
        token, bodies = signed_refreshes(h, trial, count)
        trial.inject_latency()
        before = len(trial.calls())
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        barrier = threading.Barrier(count)

        def send(body):
            barrier.wait(timeout=30)
            status, raw = h.http("POST", f"{trial.bot_url}/api/messages", body, headers, timeout=60)
            return status, b"Hover over to join this chat" in raw

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
            answers = list(pool.map(send, bodies))
        elapsed_ms = (time.monotonic() - started) * 1000
        calls = per_service(trial.calls()[before:])
        good = sum(1 for status, card in answers if status == 200 and card)
        trial.stop()
        results[label] = {"requests": count, "answered": good, "calls": calls, "ms": elapsed_ms}
        h.log(f"single flight: {count} concurrent first refreshes: {good} answered with the card, calls {calls}, {elapsed_ms:.0f} ms")
    return results


def cold_section(args, h, rows, flight, notices):
    lines = [COLD_MARK, "", "## Cold path (`scripts/bench --cold`)", ""]
    add = lines.append
    add(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, joinchat {h.git_describe()}. "
        f"{LATENCY_MS} ms of latency injected into every simulated Microsoft service "
        "(`POST /_sandbox/faults {\"service\": …, \"latency_ms\": 50}` for Dataverse, Graph, the Connector and Entra; "
        "latency only), so a request's time divided by 50 ms is the number of round trips it makes one after "
        f"another. Each first request runs on a fresh cloud and a fresh `joinchat serve` (release; its own Redis "
        f"prefix, i.e. a fresh store), started and holding its tokens before it is timed; median of {args.cold_trials} trials "
        "(each trial's times in brackets). Calls: what the cloud received during the request (`GET /_sandbox/calls`). "
        "The remainder below a whole 50 ms is local work (the control API minting the channel token and delivering "
        "the activity, the bot's own processing, Redis), so the round trips are the whole part of the quotient."
    )
    add("")
    add("| request | ms | ÷ 50 ms | sequential round trips | before | Dataverse | Graph | Connector | Entra |")
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        calls = row["calls"]
        before = BASELINE.get(row["key"], "")
        add(
            f"| {row['label']} | {row['ms']:.0f} {row['samples']} | {row['trips']:.2f} | {int(row['trips'])} | {before} "
            f"| {calls['dataverse']} | {calls['graph']} "
            f"| {calls['connector']} | {calls['entra']} |"
        )
    add("")
    if notices:
        add(
            f"The joined notice is posted after the join's answer: it was in the chat {statistics.median(notices):.0f} ms "
            "(median) after the invoke answered (the Connector post, one round trip)."
        )
        add("")
    one, many = flight["one"], flight["many"]
    add(f"Single flight: {many['requests']} concurrent first refreshes of one record (the same person, signed invokes sent "
        "at once to a fresh bot, 50 ms injected, cold-look budget raised for the run) against one first refresh:")
    add("")
    add("| | answered with the card | Dataverse | Graph | Connector | Entra | ms |")
    add("|---|---:|---:|---:|---:|---:|---:|")
    for name, result in (("1 refresh", one), (f"{many['requests']} concurrent refreshes", many)):
        calls = result["calls"]
        add(
            f"| {name} | {result['answered']} | {calls['dataverse']} | {calls['graph']} | {calls['connector']} "
            f"| {calls['entra']} | {result['ms']:.0f} |"
        )
    add("")
    add(COLD_END)
    return "\n".join(lines) + "\n"


def merge_cold(path, section):
    """Writes `section` into the results file, keeping the warm content."""
    try:
        with open(path) as file:
            text = file.read()
    except OSError:
        text = ""
    text = strip_cold(text).rstrip("\n")
    with open(path, "w") as file:
        file.write((text + "\n\n" if text else "") + section)


def strip_cold(text):
    if COLD_MARK not in text:
        return text
    head, _, rest = text.partition(COLD_MARK)
    _, _, tail = rest.partition(COLD_END)
    return head.rstrip("\n") + "\n" + tail.lstrip("\n")


def cold_part(path):
    """The cold section of the results file, if any (kept by a warm run)."""
    try:
        with open(path) as file:
            text = file.read()
    except OSError:
        return ""
    if COLD_MARK not in text:
        return ""
    _, _, rest = text.partition(COLD_MARK)
    body, _, _ = rest.partition(COLD_END)
    return COLD_MARK + body + COLD_END + "\n"


# ---- soak -----------------------------------------------------------------------------------


def run_soak(args, h, children, ctx):
    minutes = args.soak
    trial = Trial(h, args, children, ctx, "soak")
    token, bodies = signed_refreshes(h, trial, 1)
    warm_body = bodies[0]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    # Warm the record for alex.
    h.http_json("POST", f"{trial.cloud_url}/_sandbox/users/alex/say", {"text": COMMAND}, timeout=30)
    people = ["alex", "sam", "kim", "jo", "lee", "priya"]
    counts = {"requests": 0, "errors": 0}
    kinds = {}
    errors = []
    lock = threading.Lock()

    def note(kind, ok, detail=""):
        with lock:
            counts["requests"] += 1
            kinds[kind] = kinds.get(kind, 0) + 1
            if not ok:
                counts["errors"] += 1
                if len(errors) < 20:
                    errors.append(f"{kind}: {detail[:200]}")

    def one(n):
        person = people[n % len(people)]
        slot = n % 20
        try:
            if slot < 14:
                status, raw = h.http("POST", f"{trial.bot_url}/api/messages", warm_body, headers, timeout=30)
                note("warm refresh", status == 200 and b"statusCode" in raw, f"{status} {raw[:100]!r}")
            elif slot < 16:
                answer = h.http_json("POST", f"{trial.cloud_url}/_sandbox/users/{person}/say", {"text": COMMAND}, timeout=30)
                note("command", answer.get("status") == 200 and bool(answer.get("activities")), card_text(answer))
            elif slot < 18:
                data = {"entity": "lead", "record_id": str(uuid.uuid4())}
                answer = h.http_json("POST", f"{trial.cloud_url}/_sandbox/users/{person}/invoke", {"verb": "refresh", "data": data}, timeout=30)
                note("cold refresh (random record)", answer.get("status") == 200 and answer.get("body", {}).get("statusCode") == 200, card_text(answer))
            elif slot == 18:
                data = {"entity": "lead", "record_id": RECORD, "chat_id": DEAL_ROOM}
                answer = h.http_json("POST", f"{trial.cloud_url}/_sandbox/users/{person}/invoke", {"verb": "join", "data": data}, timeout=30)
                note("join click", answer.get("status") == 200 and answer.get("body", {}).get("statusCode") == 200, card_text(answer))
            else:
                answer = h.http_json("POST", f"{trial.cloud_url}/_sandbox/users/{person}/say", {"text": "help"}, timeout=30)
                note("help", answer.get("status") == 200, card_text(answer))
        except Exception as error:  # counted, not fatal
            note("exception", False, repr(error))

    samples = []
    started = time.monotonic()
    end = started + minutes * 60
    next_sample = started
    n = 0
    interval = 1.0 / args.soak_rate
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                status = h.proc_status(trial.bot.pid)
                samples.append((now - started, status["VmRSS"] / 1024))
                next_sample += args.soak_sample
            if trial.bot.poll() is not None:
                raise h.BenchError(f"the bot exited during the soak ({trial.bot.returncode})")
            pool.submit(one, n)
            n += 1
            time.sleep(max(0.0, started + n * interval - time.monotonic()))
    status = h.proc_status(trial.bot.pid)
    samples.append((time.monotonic() - started, status["VmRSS"] / 1024))
    peak = status["VmHWM"] / 1024
    trial.stop()
    return {"minutes": minutes, "samples": samples, "peak": peak, "counts": counts, "kinds": kinds, "errors": errors, "rate": args.soak_rate}


def soak_report(h, result):
    samples = result["samples"]
    start, middle, end = samples[0], samples[len(samples) // 2], samples[-1]
    lines = ["# joinchat soak (`scripts/bench --soak`)", ""]
    add = lines.append
    add(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, joinchat {h.git_describe()}: {result['minutes']:g} minutes of steady "
        f"mixed load at {result['rate']:g} requests/s against one `joinchat serve` (release, Redis store) and `joinchat cloud`, "
        "on a machine shared with other work. Mix per 20 requests: 14 warm card refreshes (signed, straight to the bot), "
        "2 commands (`chats for lead …`, through the control API), 2 cold refreshes of random records (the cold-look "
        "budget answers some of them), 1 Join click, 1 `help`; people in turn."
    )
    add("")
    add("| | value |")
    add("|---|---:|")
    add(f"| RSS at start | {start[1]:.1f} MB |")
    add(f"| RSS in the middle ({middle[0] / 60:.1f} min) | {middle[1]:.1f} MB |")
    add(f"| RSS at the end ({end[0] / 60:.1f} min) | {end[1]:.1f} MB |")
    add(f"| peak RSS (VmHWM) | {result['peak']:.1f} MB |")
    add(f"| requests | {result['counts']['requests']} |")
    add(f"| errors | {result['counts']['errors']} |")
    add("")
    add("Requests by kind: " + ", ".join(f"{kind} {n}" for kind, n in sorted(result["kinds"].items())) + ".")
    add("")
    add("RSS samples (minute: MB): " + ", ".join(f"{t / 60:.1f}: {mb:.1f}" for t, mb in samples) + ".")
    if result["errors"]:
        add("")
        add("First errors:")
        add("")
        for error in result["errors"]:
            add(f"- `{error}`")
    return "\n".join(lines) + "\n"
