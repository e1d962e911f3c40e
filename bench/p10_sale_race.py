"""P10: units sold beyond the stock when Shopify and TikTok sell the last units at once.

TikTok sells from a copy of the store's stock, which follows the store's sales by the time the
connector takes to hear of them and write again; in that window both platforms can sell the same
units, and the store refuses the TikTok order (an order the brand must cancel). The race is
simulators/sale_race.py: 50 units of one SKU, buyers on both platforms at the pace given, the
webhooks handled as they come (two bindings of the inventory flow writing the same SKU). The
figure is the median number of units sold beyond the 50; the baseline is the same race with the
store's stock events left until the race is over (stock written by the scheduled runs only, as
a polling integration would).

    .venv/bin/python bench/p10_sale_race.py [--full] [--rounds N]
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
from pathlib import Path

from _common import Config, Row

UNITS, ATTEMPTS = 50, 200
GOAL = "0 at 67/s"  # a livestream's pace with the example's buffer; faster rows are shown


def _oversold(race) -> int:
    from simulators.sale_race import run_race

    with tempfile.TemporaryDirectory() as tmp:
        out = run_race(race, Path(tmp))
    if out.failures or not out.flows_ok or out.drift:
        raise RuntimeError(f"the race did not end in agreement: {out.failures or 'a closing run failed or drifted'}")
    return out.oversold(race.units)


def _row(pace: float, buffer: int, rounds: int) -> Row:
    from simulators.sale_race import Race

    race = Race(units=UNITS, attempts=ATTEMPTS, spread_seconds=ATTEMPTS / pace, buffer=buffer)
    figures: dict[str, list[int]] = {"events": [], "polling": []}
    for n in range(rounds):  # interleaved, so a noisy moment of the machine hits both sides
        # A merchant name per race: with a shared state database (PostgreSQL) races must not meet.
        figures["events"].append(_oversold(dataclasses.replace(race, merchant=f"race{n}")))
        figures["polling"].append(_oversold(dataclasses.replace(race, stock_events=False, merchant=f"polled{n}")))
    value, baseline = statistics.median(figures["events"]), statistics.median(figures["polling"])
    ratio = value / baseline if baseline else None
    held = pace <= 67 and buffer >= 2
    met = value == 0 if held else None
    what = f"units oversold, {pace:g} buys/s, buffer {buffer}, vs stock by polling"
    return Row("P10", what, f"{value:g} of {UNITS}", f"{baseline:g}", ratio, GOAL if held else "", met,
               extra=figures)


def rows(cfg: Config) -> list[Row]:
    rounds = max(1, min(cfg.rounds, 5 if cfg.full else 3))
    settings = [(67, 2), (200, 2), (200, 0)] if cfg.full else [(67, 2)]
    return [_row(pace, buffer, rounds) for pace, buffer in settings]


def main(argv: list[str] | None = None) -> None:
    from _common import standalone

    standalone(__doc__, rows, "P10 sale race", argv, rounds=True)


if __name__ == "__main__":
    main()
