"""Puts Autobahn|Testsuite's verdicts beside wschaos's, per Autobahn case id.

Part of scripts/vs-autobahn. Two subcommands:

    compare.py table --peer P --side server|client --autobahn index.json \
        --wschaos report.json --mapping cases.json --select '1.*,2.*' \
        --out-md FILE --out-json FILE
    compare.py summary FILE.json...            # counts over the tables above

`table` reads the Autobahn report (index.json, one agent), the wschaos JSON report
and `wschaos cases --format json` (each case's "autobahn" list: the mapping is read
at run time, never written here). Per Autobahn id it grades both sides, and for every
wschaos case that covers the id it decides: agree, explained (a grading difference
documented in /work/shared/autobahn/COVERAGE.md section 3, README.md "Status and
departures from SPEC.md" / "What it found", or docs/vs-autobahn.md for those this
comparison found, named), or DISAGREE (nothing documented explains it).
"""

import argparse
import fnmatch
import json
import sys

# Autobahn's "valid text, bad frame, ping" cases written back to back: its NON-STRICT
# there means the echo of the valid text never came (PROTOCOL.md section 3).
PIPELINED = {"3.2", "3.3", "3.4", "4.1.3", "4.1.4", "4.1.5", "4.2.3", "4.2.4", "4.2.5", "5.15"}
FAIL_FAST = {"6.4.1", "6.4.2", "6.4.3", "6.4.4"}
ORDERED = {"2.10", "2.11", "5.6", "5.7", "5.8", "5.19", "5.20"}
# Error codes (README "Verdicts": another error code is non-strict).
ERROR_CODES = {1002, 1003, 1007, 1008, 1009, 1010, 1011}

REASONS = {
    "drop": "dropped TCP or sent a Close without a code on a violation: Autobahn OK, "
    "wschaos non-strict (COVERAGE 3.1)",
    "wrong-code": "another error code than the one due: Autobahn WRONG CODE, wschaos "
    "non-strict (COVERAGE 3.2; README departures)",
    "close-after-valid": "Autobahn grades the closing handshake after valid traffic, "
    "wschaos does not (COVERAGE 3.3)",
    "order": "Autobahn checks the order of pongs and echoes, wschaos does not (COVERAGE 3.4)",
    "fail-fast": "Autobahn's NON-STRICT here means invalid UTF-8 was detected late; "
    "wschaos does not grade fail-fast (COVERAGE 3.5)",
    "informational": "Autobahn only reports this case, wschaos judges it (COVERAGE 3.6)",
    "deflate": "permessage-deflate not agreed: Autobahn UNIMPLEMENTED, wschaos info "
    "or a different offer (COVERAGE 3.7, 4.6)",
    "pipelined": "Autobahn's NON-STRICT: the echo of the valid message written in the "
    "same read as the violation never came; wschaos's after-valid waits for that echo "
    "first (COVERAGE 2 'after-valid'; README departures)",
    "after-valid-ping": "wschaos's after-valid variant sends a ping after the violation "
    "and grades an answer to it non-strict; this Autobahn case sends no ping "
    "(COVERAGE 2 'after-valid'; README 'What it found')",
    "empty-final-frame": "Autobahn's fragmenter ends a message whose size is a multiple "
    "of the fragment size with an extra empty FIN frame (4 MiB in 1 KiB frames: 4,097 "
    "frames), wschaos does not (4,096); a peer with a fragment limit in between "
    "(websockets: 4,096, 1009; Node ws: 16,384, 1008) refuses only Autobahn's "
    "(docs/vs-autobahn.md)",
    "window-not-echoed": "the server accepted an offer of server_max_window_bits=15 "
    "without that parameter in its answer, which RFC 7692 7.1.2.1 asks for: wschaos "
    "non-strict (15 bits is the default window, so nothing changes), Autobahn's client "
    "does not check the answer's parameters (README 'What it found')",
    "endpoint-limit": "a bulk case (limits.*, deflate.*) the endpoint closed with 1009 "
    "(or 1008, as Node ws does for too many fragments): wschaos info ('a limit of the "
    "endpoint's'), Autobahn FAILED (README departures and 'What it found')",
}

# wschaos's bulk families (Autobahn 9.x, 12.x, 13.x).
BULK_PREFIXES = ("limits.", "deflate.")


def id_key(case_id):
    return tuple(int(p) for p in case_id.split("."))


def ab_grade(res):
    b, bc = res["behavior"], res["behaviorClose"]
    if b == "UNIMPLEMENTED":
        return "unimplemented"
    if b == "INFORMATIONAL":
        return "info"
    if b == "FAILED" or bc not in ("OK", "INFORMATIONAL"):
        return "fail"
    if b == "NON-STRICT":
        return "non-strict"
    return "pass"


def observed_text(obs):
    kind = obs.get("kind")
    if kind == "close":
        return "close %s" % obs.get("code", "(no code)")
    if kind == "handshake-refused":
        return "HTTP %s" % obs.get("status")
    return kind


def classify(ab_id, res, case):
    """(status, reason key or None, remark) for one wschaos case covering ab_id."""
    g = ab_grade(res)
    v = case["verdict"]
    obs = case.get("observed", {})
    kind, code = obs.get("kind"), obs.get("code")
    note = case.get("note", "") or ""
    expected = case.get("expected")
    if g == "unimplemented":
        return "explained", "deflate", None
    if g == "info":
        return ("agree", None, None) if v == "info" else ("explained", "informational", None)
    if v == g:
        return "agree", None, None
    if g == "pass" and v == "non-strict":
        if kind == "tcp-close" or (kind == "close" and code is None):
            return "explained", "drop", None
        if (
            case["id"].startswith("after-valid.")
            and "answered the ping" in note
            and ab_id not in PIPELINED
        ):
            return "explained", "after-valid-ping", None
        if case["id"].startswith("deflate.") and "without echoing it" in note:
            return "explained", "window-not-echoed", None
    if g == "non-strict" and v == "pass":
        if ab_id in PIPELINED:
            return "explained", "pipelined", None
        if ab_id in FAIL_FAST:
            return "explained", "fail-fast", None
    if g == "non-strict" and v == "non-strict":
        return "agree", None, None
    if g == "fail":
        bc, b = res["behaviorClose"], res["behavior"]
        if (
            v == "info"
            and case["id"].startswith(BULK_PREFIXES)
            and kind == "close"
            and code in (1008, 1009)
        ):
            return "explained", "endpoint-limit", None
        if (
            v == "pass"
            and ab_id.startswith(("9.3.", "9.4."))
            and res.get("remoteCloseCode") in (1008, 1009)
            and case["id"].startswith("limits.")
        ):
            return "explained", "empty-final-frame", None
        if (
            v == "non-strict"
            and bc == "WRONG CODE"
            and kind == "close"
            and code in ERROR_CODES
        ):
            return "explained", "wrong-code", None
        if (
            v == "pass"
            and b in ("OK", "NON-STRICT")
            and bc in ("FAILED BY CLIENT", "UNCLEAN", "FAILED", "WRONG CODE")
            and expected == "echo"
        ):
            return "explained", "close-after-valid", None
        if v == "pass" and b == "FAILED" and ab_id in ORDERED:
            return "explained", "order", None
    return "DISAGREE", None, None


def cmd_table(args):
    with open(args.autobahn) as f:
        index = json.load(f)
    if args.agent not in index:
        sys.exit("compare.py: agent %r not in %s (agents: %s)" % (args.agent, args.autobahn, sorted(index)))
    ab = index[args.agent]
    with open(args.wschaos) as f:
        report = json.load(f)
    with open(args.mapping) as f:
        catalogue = json.load(f)
    cases = {c["id"]: c for c in report["cases"]}
    covers = {}
    for entry in catalogue:
        for ab_id in entry.get("autobahn", []):
            covers.setdefault(ab_id, []).append(entry["id"])
    patterns = [p.strip() for p in args.select.split(",") if p.strip()]

    def selected(ab_id):
        return any(fnmatch.fnmatchcase(ab_id, p) for p in patterns)

    ids = sorted({i for i in ab if selected(i)} | {i for i in covers if selected(i)}, key=id_key)
    rows = []
    for ab_id in ids:
        res = ab.get(ab_id)
        ws = [cases[c] for c in covers.get(ab_id, []) if c in cases]
        row = {"id": ab_id, "autobahn": res, "wschaos": [], "status": None, "reasons": []}
        if res is None:
            row["status"] = "autobahn-missing"
        elif not ws:
            row["status"] = "not-covered"
        for case in ws:
            entry = {
                "id": case["id"],
                "verdict": case["verdict"],
                "observed": observed_text(case.get("observed", {})),
                "note": case.get("note"),
            }
            if res is not None:
                status, reason, _ = classify(ab_id, res, case)
                entry["status"] = status
                entry["reason"] = reason
            row["wschaos"].append(entry)
        if res is not None and ws:
            statuses = [e["status"] for e in row["wschaos"]]
            if "DISAGREE" in statuses:
                row["status"] = "DISAGREE"
            elif "explained" in statuses:
                row["status"] = "explained"
            else:
                row["status"] = "agree"
            seen = []
            for e in row["wschaos"]:
                if e["reason"] and e["reason"] not in seen:
                    seen.append(e["reason"])
            row["reasons"] = seen
        rows.append(row)

    counts = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    ab_counts = {}
    for ab_id in ids:
        if ab_id in ab:
            key = "%s / %s" % (ab[ab_id]["behavior"], ab[ab_id]["behaviorClose"])
            ab_counts[key] = ab_counts.get(key, 0) + 1
    result = {
        "peer": args.peer,
        "side": args.side,
        "select": patterns,
        "wschaos_summary": report.get("summary"),
        "wschaos_version": report.get("version"),
        "wschaos_seed": report.get("seed"),
        "autobahn_counts": ab_counts,
        "counts": counts,
        "rows": rows,
    }
    with open(args.out_json, "w") as f:
        json.dump(result, f, indent=1)
    md = render_table(result)
    with open(args.out_md, "w") as f:
        f.write(md)
    sys.stdout.write(md)


def ab_cell(res):
    if res is None:
        return "(not run)"
    code = res.get("remoteCloseCode")
    return "%s / %s (%s)" % (
        res["behavior"],
        res["behaviorClose"],
        "no code" if code is None else code,
    )


def ws_cell(entries):
    if not entries:
        return "(none)"
    parts = []
    for e in entries:
        text = "%s %s" % (e["id"], e["verdict"])
        if e["verdict"] != "pass":
            text += " (%s)" % e["observed"]
        if e.get("status") == "DISAGREE":
            text = "**" + text + "**"
        parts.append(text)
    return ", ".join(parts)


def status_cell(row):
    s = row["status"]
    if s == "explained":
        return "explained (%s)" % "; ".join(row["reasons"])
    if s == "not-covered":
        return "not covered"
    if s == "autobahn-missing":
        return "Autobahn did not run it"
    return s


def render_counts(result):
    c = result["counts"]
    return "agree %d, explained %d, DISAGREE %d, not covered by wschaos %d%s" % (
        c.get("agree", 0),
        c.get("explained", 0),
        c.get("DISAGREE", 0),
        c.get("not-covered", 0),
        ", not run by Autobahn %d" % c["autobahn-missing"] if c.get("autobahn-missing") else "",
    )


def render_table(result):
    out = []
    out.append("### %s, %s side\n\n" % (result["peer"], result["side"]))
    out.append("| Autobahn id | behavior / behaviorClose (peer's close code) | wschaos cases and verdicts | result |\n")
    out.append("|---|---|---|---|\n")
    for row in result["rows"]:
        out.append(
            "| %s | %s | %s | %s |\n"
            % (row["id"], ab_cell(row["autobahn"]), ws_cell(row["wschaos"]), status_cell(row))
        )
    out.append("\n%s, %s side: %s.\n" % (result["peer"], result["side"], render_counts(result)))
    out.append(
        "Autobahn: %s. wschaos (whole catalogue): %s.\n\n"
        % (
            ", ".join("%s %d" % kv for kv in sorted(result["autobahn_counts"].items())),
            ", ".join("%s %d" % kv for kv in result["wschaos_summary"].items()),
        )
    )
    return "".join(out)


def cmd_summary(args):
    results = []
    for path in args.files:
        with open(path) as f:
            results.append(json.load(f))
    out = ["## Summary\n\n"]
    out.append("| peer | side | Autobahn ids | agree | explained | DISAGREE | not covered |\n")
    out.append("|---|---|---:|---:|---:|---:|---:|\n")
    for r in results:
        c = r["counts"]
        out.append(
            "| %s | %s | %d | %d | %d | %d | %d |\n"
            % (
                r["peer"],
                r["side"],
                sum(c.values()) - c.get("autobahn-missing", 0),
                c.get("agree", 0),
                c.get("explained", 0),
                c.get("DISAGREE", 0),
                c.get("not-covered", 0),
            )
        )
    out.append("\nExplained disagreements, by reason:\n\n")
    for r in results:
        by_reason = {}
        for row in r["rows"]:
            if row["status"] in ("explained", "DISAGREE"):
                for reason in row["reasons"]:
                    by_reason.setdefault(reason, []).append(row["id"])
        for reason, ids in by_reason.items():
            out.append("- %s %s, %s (%d): %s\n" % (r["peer"], r["side"], reason, len(ids), " ".join(ids)))
    out.append("\nUnexplained disagreements:\n\n")
    any_dis = False
    for r in results:
        for row in r["rows"]:
            if row["status"] == "DISAGREE":
                any_dis = True
                bad = [e for e in row["wschaos"] if e["status"] == "DISAGREE"]
                out.append(
                    "- %s %s %s: Autobahn %s; wschaos %s\n"
                    % (r["peer"], r["side"], row["id"], ab_cell(row["autobahn"]), ws_cell(bad).replace("**", ""))
                )
    if not any_dis:
        out.append("- none\n")
    sys.stdout.write("".join(out))
    if args.out_md:
        with open(args.out_md, "w") as f:
            f.write("".join(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table")
    t.add_argument("--peer", required=True)
    t.add_argument("--side", choices=["server", "client"], required=True)
    t.add_argument("--autobahn", required=True, help="Autobahn's index.json")
    t.add_argument("--agent", required=True, help="agent key in index.json")
    t.add_argument("--wschaos", required=True, help="wschaos JSON report")
    t.add_argument("--mapping", required=True, help="wschaos cases --format json")
    t.add_argument("--select", required=True, help="Autobahn id globs, comma-separated")
    t.add_argument("--out-md", required=True)
    t.add_argument("--out-json", required=True)
    s = sub.add_parser("summary")
    s.add_argument("--out-md")
    s.add_argument("files", nargs="+")
    args = parser.parse_args()
    if args.cmd == "table":
        cmd_table(args)
    else:
        cmd_summary(args)


if __name__ == "__main__":
    main()
