"""Statistics and Markdown rendering for the runtime benchmark (pure, unit-tested).

Medians, percentiles, ratios of medians and paired per-round ratios, and the table
and verdict lines `runtime_run.py` prints.
"""

from __future__ import annotations

from typing import Any

CRUN_PEER_MEDIAN_MS = 11  # crun's median in ../shared/bench/peers/RESULTS.md
DASH = "\u2013"  # en dash, for ranges and missing values in the table


def median(xs: list[float]) -> float:
    """The median (mean of the two middle values for an even count)."""
    if not xs:
        raise ValueError("median of an empty sample")
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def percentile(xs: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between order statistics."""
    if not xs:
        raise ValueError("percentile of an empty sample")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile out of range: {q}")
    s = sorted(xs)
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarize(samples_ms: list[float]) -> dict[str, float]:
    """Median, p10, p90, min, max and n of a sample in milliseconds."""
    return {
        "median": median(samples_ms),
        "p10": percentile(samples_ms, 10),
        "p90": percentile(samples_ms, 90),
        "min": min(samples_ms),
        "max": max(samples_ms),
        "n": len(samples_ms),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either side is missing or b is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def paired_ratio(a: list[float | None], b: list[float | None]) -> float | None:
    """Median of the per-round ratios a[i]/b[i] over the rounds where both ran."""
    rs = [x / y for x, y in zip(a, b, strict=False) if x is not None and y]
    return median(rs) if rs else None


def rotation(names: list[str], round_no: int) -> list[str]:
    """The order of round `round_no`: `names` rotated left by round_no places."""
    if not names:
        return []
    k = round_no % len(names)
    return names[k:] + names[:k]


# ------------------------------------------------------------ pure formatting


def fmt_ms(x: float | None) -> str:
    if x is None:
        return DASH
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def fmt_ratio(x: float | None) -> str:
    return DASH if x is None else f"{x:.2f}"


def table_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def result_row(r: dict[str, Any], medians: dict[str, float | None]) -> str:
    """One Markdown row for a runtime result (a dict as in the JSON report)."""
    st = r.get("stats")
    if r["status"] != "ok" or not st:
        return table_row(
            [
                r["name"],
                r.get("version") or DASH,
                r["status"].upper() + ": " + (r.get("error") or ""),
                "",
                "",
                str(len(r.get("samples_ms", []))),
                "",
                "",
            ]
        )
    return table_row(
        [
            r["name"],
            r.get("version") or DASH,
            fmt_ms(st["median"]),
            f"{fmt_ms(st['p10'])}{DASH}{fmt_ms(st['p90'])}",
            f"{fmt_ms(st['min'])}{DASH}{fmt_ms(st['max'])}",
            str(st["n"]),
            fmt_ratio(ratio(st["median"], medians.get("runc"))),
            fmt_ratio(ratio(st["median"], medians.get("crun"))),
        ]
    )


def format_table(results: list[dict[str, Any]]) -> str:
    """The Markdown results table: one row per runtime, ratios of medians to runc and crun."""
    medians = {r["name"]: (r["stats"]["median"] if r.get("stats") else None) for r in results}
    lines = [
        table_row(
            [
                "runtime",
                "version",
                "median ms",
                f"p10{DASH}p90 ms",
                f"min{DASH}max ms",
                "n",
                "÷ runc",
                "÷ crun",
            ]
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [result_row(r, medians) for r in results]
    return "\n".join(lines)


RUNC_TARGET = 0.9  # issue 15: median `run` ≤ 0.9 x runc's


def format_verdicts(ratios: dict[str, dict[str, float | None]]) -> str:
    """Lines stating wharfie's ratios and whether the targets are met."""
    out = []
    vr = ratios.get("wharfie/runc", {})
    if vr.get("medians") is not None:
        met = "MET" if vr["medians"] <= RUNC_TARGET else "NOT MET"
        out.append(
            f"- wharfie/runc = {fmt_ratio(vr['medians'])} (paired per-round median "
            f"{fmt_ratio(vr.get('paired'))}); target ≤ {RUNC_TARGET:.2f}: **{met}**"
        )
    vc = ratios.get("wharfie/crun", {})
    if vc.get("medians") is not None:
        out.append(
            f"- wharfie/crun = {fmt_ratio(vc['medians'])} (paired per-round median "
            f"{fmt_ratio(vc.get('paired'))}); aim: toward 1.00 (crun ≈ "
            f"{CRUN_PEER_MEDIAN_MS} ms in the peer baseline)"
        )
    if not out:
        out.append("- wharfie ratios: n/a (wharfie-runtime not measured or failed)")
    return "\n".join(out)


def compute_ratios(results: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """wharfie/runc and wharfie/crun: ratio of medians and median of paired per-round ratios."""
    by = {r["name"]: r for r in results if r["status"] == "ok" and r.get("stats")}
    out: dict[str, dict[str, float | None]] = {}
    for peer in ("runc", "crun"):
        if "wharfie" in by and peer in by:
            w, p = by["wharfie"], by[peer]
            out[f"wharfie/{peer}"] = {
                "medians": ratio(w["stats"]["median"], p["stats"]["median"]),
                "paired": paired_ratio(w["by_round_ms"], p["by_round_ms"]),
            }
    return out
