#!/usr/bin/env python3
"""Render docs/PERFORMANCE.md from irqlink-bench's JSON and a template.

usage: perf_report.py BENCH_JSON TEMPLATE COMMAND > PERFORMANCE.md

The template is Markdown with placeholders ({{machine}}, {{latency}},
{{scale}}, {{targets}}, {{command}}, {{date}}, {{seconds}}): the prose
stays in the template, every figure comes from the run.
"""
import datetime
import json
import sys


def fmt(v, nd=2):
    return "-" if v is None else f"{v:.{nd}f}"


def rows_by(data):
    out = {}
    for r in data.get("rows", []):
        out[(r["path"], r["regime"])] = r
    return out


def p50(rows, path, regime):
    r = rows.get((path, regime))
    if not r or not r["ok"]:
        return None
    return r["latency"]["p50_us"]


def machine(data):
    m = data["machine"]
    c = data["config"]
    return "\n".join([
        "| | |", "|---|---|",
        f"| CPUs | {m['nproc']} |",
        f"| CPU model | {m['cpu']} |",
        f"| kernel | {m['kernel']} |",
        f"| KVM module | {m['kvm']} |",
        f"| TSC | {m['tsc_mhz']:.2f} MHz (calibrated; KVM says "
        f"{m['kvm_tsc_mhz']:.2f}) |",
        f"| halt_poll_ns | {m['halt_poll_ns']} |",
        f"| layout | vCPU on CPU {c['cpu_vcpu']}, trigger on "
        f"CPU {c['cpu_trigger']}, relays on CPU "
        f"{c.get('cpu_relay', c['cpu_trigger'])} |",
    ])


GROUPS = (("paths", "Interrupt and doorbell paths (the trigger thread "
           "spins)"),
          ("relay", "Relays and their in-kernel floor (the trigger thread "
           "yields)"),
          ("vm", "irqlink-vm's machine, beside raw KVM behind a device "
           "thread (yields)"))


def latency_table(data, sel, regime):
    out = ["| path | wait | p50 | p99 | irq/s | baseline | "
           "base p50 | x p50 | +p50 |",
           "|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in sel:
        if not r["ok"]:
            out.append(f"| {r['path']} | {r['wait']} | FAILED: "
                       f"{r.get('error', '')} | | | | | | |")
            continue
        base = r.get("baseline")
        bp = p50(rows_by(data), base, regime) if base else None
        out.append(
            f"| {r['path']} | {r['wait']} | {fmt(r['latency']['p50_us'])}"
            f" | {fmt(r['latency']['p99_us'])} | {r['irqs_per_s']:.0f} | "
            f"{base or ''} | {fmt(bp)} | {fmt(r.get('ratio_p50'))} | "
            f"{fmt(r.get('delta_p50_us'))} |")
    for r in sel:
        if r["ok"] and r.get("parts"):
            out.append("")
            out.append(f"{r['path']}, where the time goes (p50): " +
                       ", ".join(f"{x['name']} {fmt(x['p50_us'])}"
                                 for x in r["parts"]) + ".")
    isr = [r for r in sel if r["ok"] and "isr_entry" in r]
    if isr:
        out.append("")
        out.append("Guest ISR entry of the full-cycle INTx paths: " +
                   "; ".join(f"{r['path']} p50 "
                             f"{fmt(r['isr_entry']['p50_us'])}, p99 "
                             f"{fmt(r['isr_entry']['p99_us'])}"
                             for r in isr) + ".")
    return out


def latency(data):
    rows = data.get("rows", [])
    out = []
    for regime, title in (("halted", "vCPU halted between interrupts "
                           "(the guest idles in `sti; hlt`)"),
                          ("running", "vCPU running (the guest spins in "
                           "ring 3, interrupts on)")):
        if not [r for r in rows if r["regime"] == regime]:
            continue
        out.append(f"#### {title}\n")
        for group, gtitle in GROUPS:
            sel = [r for r in rows if r["regime"] == regime and
                   r.get("group", "paths") == group]
            if not sel:
                continue
            out.append(f"*{gtitle}*\n")
            out.extend(latency_table(data, sel, regime))
            out.append("")
    paths = {}
    for r in rows:
        paths.setdefault(r["path"], r["what"])
    out.append("What each path is:\n")
    for k, v in paths.items():
        out.append(f"- `{k}`: {v}")
    return "\n".join(out)


WAYS = ("glue", "batched", "per_vector")


def scale(data):
    s = data.get("scale")
    if not s:
        return "(the scale part did not run)"
    out = ["#### MSI-X enable (ms, median; commits = KVM_SET_GSI_ROUTING "
           "calls)\n",
           "| vectors | way | total | commits | commit | rest | speedup |",
           "|---:|---|---:|---:|---:|---:|---:|"]
    for e in s.get("msix_enable", []):
        for w in WAYS:
            x = e["ways"][w]
            out.append(f"| {e['vectors']} | {w} | {fmt(x.get('total_ms'))} | "
                       f"{x.get('commits_max')} | {fmt(x.get('commit_ms'), 3)}"
                       f"{'*' if x.get('commit_ms_estimated') else ''} | "
                       f"{fmt(x.get('rest_ms'))} | "
                       f"{fmt(e.get('speedup')) if w == 'glue' else ''} |")
    out.append("\n\\* the glue's commit is not timed inside the glue; the "
               "figure is the batched way's commit of the same table.\n")
    out.append("Where the glue's enable goes (ms): " + "; ".join(
        f"{e['vectors']} vectors: " + ", ".join(
            f"{k[:-3].replace('_', ' ')} {fmt(v)}"
            for k, v in e["glue_split"].items() if k.endswith("_ms"))
        for e in s.get("msix_enable", [])) + ".\n")
    out.append(f"One eventfd identity read (/proc): "
               f"{fmt(s.get('identity_read_us'))} us.\n")
    m = s.get("mask", {})
    out.append(f"One vector of a {m.get('vectors')}-vector table: mask + "
               f"unmask with the message unchanged {fmt(m.get('pair_us'))} us "
               f"a pair, {m.get('pair_commits')} routing commits in "
               f"{m.get('pairs')} pairs; a message change (data dword) "
               f"{fmt(m.get('data_change_us'))} us and "
               f"{fmt(m.get('data_change_commits'))} commits; mask + rewrite "
               f"+ unmask {fmt(m.get('masked_change_us'))} us and "
               f"{fmt(m.get('masked_change_commits'))} commits.\n")
    out.append("#### Bypass manager, ns per operation with P pairs "
               "registered\n")
    out.append("| P | register producer | register consumer (pairs) | "
               "unregister consumer | unregister producer |")
    out.append("|---:|---:|---:|---:|---:|")
    for b in s.get("bypass", {}).get("sizes", []):
        out.append(f"| {b['pairs']} | {fmt(b['register_producer_ns'], 1)} | "
                   f"{fmt(b['register_consumer_ns'], 1)} | "
                   f"{fmt(b['unregister_consumer_ns'], 1)} | "
                   f"{fmt(b['unregister_producer_ns'], 1)} |")
    return "\n".join(out)


LAYOUTS = (("one_cpu", "every thread on one CPU"),
           ("two_cpus", "device process and bench on different CPUs"))
WAYS_VFU = (("in_process", "in-process (irqlink_dev)"),
            ("pipelined", "irqlink client, pipelined (16 fds/msg)"),
            ("synchronous", "raw client, synchronous 16-fd chunks"),
            ("pipelined_253", "irqlink client, 253 fds/msg"))


def vfio_user(data):
    v = data.get("vfio_user")
    if not v:
        return "(the vfio-user part did not run)"
    out = []
    for key, title in LAYOUTS:
        rts = v["round_trips"].get(key, [])
        if not rts:
            continue
        out.append(f"#### Round trips, {title} (us)\n")
        out.append("| op | bytes | irqlink p50 | p99 | raw p50 | p99 | "
                   "raw-poll p50 | irqlink / raw p50 |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in rts:
            out.append(f"| {r['op']} | {r['bytes']} | "
                       f"{fmt(r['irqlink']['p50_us'])} | "
                       f"{fmt(r['irqlink']['p99_us'])} | "
                       f"{fmt(r['raw']['p50_us'])} | {fmt(r['raw']['p99_us'])}"
                       f" | {fmt(r['raw_poll']['p50_us'])} | "
                       f"{fmt(r['ratio_p50'])}x |")
        out.append("")
    for key, title in LAYOUTS:
        sis = v["set_irqs"].get(key, [])
        if not sis:
            continue
        out.append(f"#### SET_IRQS of N eventfds (MSI-X), {title}; assign "
                   f"p50 in us (messages)\n")
        out.append("| N | " + " | ".join(t for _, t in WAYS_VFU) +
                   " | socket over in-process | synchronous / pipelined |")
        out.append("|---:|" + "---:|" * (len(WAYS_VFU) + 2))
        for x in sis:
            cells = []
            for w, _ in WAYS_VFU:
                y = x[w]
                cells.append(f"{fmt(y['assign']['p50_us'], 1)}" +
                             (f" ({y['messages']})" if y["messages"] else ""))
            out.append(f"| {x['fds']} | " + " | ".join(cells) +
                       f" | {x['socket_overhead_pct']:+.1f}% (253/msg "
                       f"{x['wide_overhead_pct']:+.1f}%) | "
                       f"{fmt(x['sync_over_pipelined'])}x |")
        out.append("")
    pf = v.get("per_fd", {})
    out.append("Per eventfd: " + ", ".join(f"{k.replace('_us', '')} "
                                          f"{fmt(val)} us"
                                          for k, val in pf.items()) + ".")
    return "\n".join(out)


def target(name, measured, ok):
    status = "not measured yet" if ok is None else ("met" if ok else
                                                    "NOT met")
    return f"| {name} | {measured} | {status} |"


def targets(data):
    rows = rows_by(data)
    out = ["| target | measured in this run | status |", "|---|---|---|"]
    for regime in ("halted", "running"):
        for path, base in (("irqlink-msi", "kvm-msi-irqfd"),
                           ("irqlink-msi/yield", "kvm-msi-irqfd/yield")):
            a, b = p50(rows, path, regime), p50(rows, base, regime)
            if a is None or b is None:
                out.append(target(f"{path} p50 within 5% of {base} "
                                  f"({regime})", "-", None))
                continue
            out.append(target(f"{path} p50 within 5% of {base} ({regime})",
                              f"{a / b:.3f}x", a / b <= 1.05))
        relay = p50(rows, "irqlink-relay/yield", regime)
        kern = p50(rows, "irqlink-msi/yield", regime)
        naive = p50(rows, "naive-relay/yield", regime)
        floor = p50(rows, "kvm-signal-msi/yield", regime)
        if None in (relay, kern, naive, floor):
            out.append(target(f"relay +2 us over in-kernel ({regime})", "-",
                              None))
            continue
        out.append(target(f"irqlink relay at most +2 us p50 over in-kernel "
                          f"({regime})", f"{relay - kern:+.2f} us",
                          relay - kern <= 2.0))
        out.append(target(f"irqlink relay overhead at most half the naive "
                          f"relay's ({regime})",
                          f"{relay - floor:+.2f} us vs naive "
                          f"{naive - floor:+.2f} us",
                          relay - floor <= 0.5 * (naive - floor)))
    s = data.get("scale")
    if s and s.get("msix_enable"):
        e = max(s["msix_enable"], key=lambda e: e["vectors"])
        g = e["ways"]["glue"]
        out.append(target(f"MSI-X enable of {e['vectors']}: exactly 1 "
                          "routing commit", f"{g.get('commits_max')}",
                          g.get("commits_max") == 1))
        sp = e.get("speedup")
        out.append(target(f"MSI-X enable of {e['vectors']}: at least 12x "
                          "faster than per-vector commits (whole enable)",
                          f"{fmt(sp)}x", sp is not None and sp >= 12))
        m = s.get("mask", {})
        out.append(target("unmask with an unchanged message: 0 commits",
                          f"{m.get('pair_commits')}",
                          m.get("pair_commits") == 0))
        bp = s.get("bypass", {}).get("sizes", [])
        if len(bp) >= 2:
            def per_op(b):
                return sum(b[k] for k in b if k.endswith("_ns") and
                           b[k] is not None)
            lo, hi = per_op(bp[0]), per_op(bp[-1])
            out.append(target(f"bypass manager cost per operation flat from "
                              f"{bp[0]['pairs']} to {bp[-1]['pairs']} pairs",
                              f"{hi / lo:.2f}x", hi / lo <= 1.5))
    for regime in ("halted", "running"):
        a = p50(rows, "irqlink-msix-2048", regime)
        b = p50(rows, "irqlink-msi", regime)
        if a is None or b is None:
            out.append(target(f"latency flat from 1 to 2048 active vectors "
                              f"({regime})", "-", None))
            continue
        out.append(target(f"latency flat from 1 to 2048 active vectors "
                          f"({regime}): irqlink-msix-2048 / irqlink-msi, "
                          f"at most 1.10x", f"{a / b:.3f}x", a / b <= 1.10))
        a = p50(rows, "irqlink-8dev-x64", regime)
        b = p50(rows, "kvm-8msi-irqfd", regime)
        if a is not None and b is not None:
            out.append(target(f"8 devices x 64 vectors firing at once, "
                              f"within 5% of raw KVM ({regime})",
                              f"{a / b:.3f}x", a / b <= 1.05))
    v = data.get("vfio_user")
    for key, title in LAYOUTS:
        if not v or not v["round_trips"].get(key):
            out.append(target(f"vfio-user REGION_READ p50 at most 1.15x a raw "
                              f"socket ping-pong ({title})", "-", None))
            continue
        rd = [r for r in v["round_trips"][key] if r["op"] == "REGION_READ"]
        worst = max(r["ratio_p50"] for r in rd)
        out.append(target(f"vfio-user REGION_READ p50 at most 1.15x a raw "
                          f"socket ping-pong ({title})",
                          f"{min(r['ratio_p50'] for r in rd):.2f}-"
                          f"{worst:.2f}x", worst <= 1.15))
        big = max(v["set_irqs"][key], key=lambda x: x["fds"])
        out.append(target(f"vfio-user SET_IRQS of {big['fds']} fds: the "
                          f"socket adds at most 20% ({title})",
                          f"{big['socket_overhead_pct']:+.1f}% at 16 fds/msg, "
                          f"{big['wide_overhead_pct']:+.1f}% at 253",
                          big["socket_overhead_pct"] <= 20))
        out.append(target(f"vfio-user SET_IRQS of {big['fds']} fds: pipelined"
                          f" chunks beat synchronous 16-fd chunks ({title})",
                          f"synchronous / pipelined "
                          f"{big['sync_over_pipelined']:.2f}x",
                          big["sync_over_pipelined"] > 1.0))
    return "\n".join(out)


def main():
    data = json.load(open(sys.argv[1]))
    tpl = open(sys.argv[2]).read()
    sub = {
        "{{command}}": sys.argv[3],
        "{{date}}": datetime.date.today().isoformat(),
        "{{seconds}}": f"{data.get('seconds', 0):.0f}",
        "{{machine}}": machine(data),
        "{{latency}}": latency(data),
        "{{scale}}": scale(data),
        "{{targets}}": targets(data),
        "{{vfio_user}}": vfio_user(data),
    }
    for k, v in sub.items():
        tpl = tpl.replace(k, v)
    sys.stdout.write(tpl)


if __name__ == "__main__":
    main()
