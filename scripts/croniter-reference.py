#!/usr/bin/env python3
"""The outside reference for tide's schedules: next starts computed by Python's croniter.

  scripts/croniter-reference.py [--seed S] [--expressions N] [--starts K] [--zones Z1,Z2,...]

Generates N random cron expressions from a seeded generator (lists, ranges, steps, month and
weekday names in any case, 7 = Sunday, day-of-month/day-of-week combinations, six-field
expressions with a leading seconds field) and, for each expression and zone, a start instant at
least a day away from any UTC-offset change, then prints one JSON object per line:

  {"expr": "...", "zone": "Europe/Berlin", "from": 1700000000, "starts": [K epoch seconds]}

croniter is asked for Vixie cron's day rule (implement_cron_bug=True: a day field starting with
'*' does not count as restricted, so the fields AND) and for seconds first (second_at_beginning).
The generator avoids the few spellings where croniter deliberately departs from Vixie cron
(equal ranges "5-5" mean the whole field to croniter; reversed ranges wrap around); see
docs/schedules.md. Run by Tests/TideScheduleTests/CroniterReferenceTests.swift.
"""
import argparse
import json
import random
import sys
from datetime import datetime, timedelta, timezone

try:
    from croniter import croniter
    from zoneinfo import ZoneInfo
except ImportError as error:  # the Swift test turns this into "run make test"
    sys.exit(f"croniter is not installed ({error}); run `make test`, which installs it into .venv/")

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# field: (minimum, maximum, names)
FIELDS = {
    "second": (0, 59, None),
    "minute": (0, 59, None),
    "hour": (0, 23, None),
    "dom": (1, 31, None),
    "month": (1, 12, MONTHS),
    "dow": (0, 6, DAYS),
}
LONGEST = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def spell(rng, field, value, allow_seven=False):
    """A value as a number or, in month and day-of-week, sometimes as a name in a random case."""
    low, high, names = FIELDS[field]
    if field == "dow" and allow_seven and value == 0 and rng.random() < 0.3:
        return "7"
    if names and rng.random() < 0.4:
        name = names[value - low]
        return rng.choice([name, name.upper(), name.capitalize()])
    return str(value)


def step(rng, span):
    return rng.choice([1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, rng.randint(1, span)]) if span > 6 else rng.randint(1, span)


def item(rng, field, first):
    """One list item: N, A-B, */S, A-B/S, A/S (and '*' alone, handled by the caller)."""
    low, high, _ = FIELDS[field]
    span = high - low + 1
    kind = rng.choice(["single", "single", "range", "range_step", "start_step"] + (["star_step"] if first else []))
    if kind == "single":
        return spell(rng, field, rng.randint(low, high), allow_seven=True)
    if kind == "star_step":
        return f"*/{min(step(rng, span), span)}"
    a = rng.randint(low, high - 1)
    b = rng.randint(a + 1, high)
    if field == "dow" and b == 6 and rng.random() < 0.5:
        # Sunday at the end of a range: 5-7, fri-sun (not 0-sun: an equal range to croniter).
        b_text = "7" if a == 0 or rng.random() < 0.7 else "sun"
    else:
        b_text = spell(rng, field, b)
    if kind == "range":
        return f"{spell(rng, field, a)}-{b_text}"
    if kind == "range_step":
        return f"{spell(rng, field, a)}-{b_text}/{min(step(rng, span), span)}"
    return f"{spell(rng, field, a)}/{min(step(rng, span), span)}"  # A/S: A up to the field's end


def field_text(rng, field, star_weight):
    if rng.random() < star_weight:
        return "*"
    count = rng.choice([1, 1, 1, 2, 2, 3])
    return ",".join(item(rng, field, i == 0) for i in range(count))


def can_fire(expr, six):
    """False for day-of-month/month combinations tide rejects as never firing (0 0 30 2 *)."""
    fields = expr.split()[1:] if six else expr.split()
    dom, dow = fields[2], fields[4]
    if not dom.startswith("*") and not dow.startswith("*"):
        return True  # the OR rule: any weekday makes days match
    expanded, _ = croniter.expand(expr, second_at_beginning=six)
    days, months = expanded[2], expanded[3]
    if days == ["*"] or months == ["*"]:
        return True
    return any(d <= LONGEST[m] for d in days for m in months)


def expression(rng):
    while True:
        six = rng.random() < 0.2
        parts = [
            field_text(rng, "minute", 0.15),
            field_text(rng, "hour", 0.3),
            field_text(rng, "dom", 0.55),
            field_text(rng, "month", 0.6),
            field_text(rng, "dow", 0.55),
        ]
        if six:
            parts.insert(0, field_text(rng, "second", 0.1))
        expr = " ".join(parts)
        if can_fire(expr, six):
            return expr, six


def start_instant(rng, zone):
    """A whole second in 2000-2035, at least a day from any change of the zone's UTC offset."""
    while True:
        t = rng.randint(946684800, 2082758399)
        if rng.random() < 0.3:
            t -= t % 60  # exactly on a minute: the start itself must not be returned
        offsets = {datetime.fromtimestamp(t + h * 3600, zone).utcoffset() for h in range(-24, 25, 6)}
        if len(offsets) == 1:
            return t


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=20260504)
    parser.add_argument("--expressions", type=int, default=1200)
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--zones", default="UTC,America/New_York,Europe/Berlin")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    zones = [(name, ZoneInfo(name)) for name in args.zones.split(",")]
    out = sys.stdout
    for _ in range(args.expressions):
        expr, six = expression(rng)
        for name, zone in zones:
            t = start_instant(rng, zone)
            it = croniter(expr, datetime.fromtimestamp(t, zone), implement_cron_bug=True, second_at_beginning=six)
            starts = [int(it.get_next(float)) for _ in range(args.starts)]
            out.write(json.dumps({"expr": expr, "zone": name, "from": t, "starts": starts}) + "\n")


if __name__ == "__main__":
    main()
