"""50 units of one SKU, 200 purchase attempts on Shopify and TikTok at once (20 buyers at a time,
spread over 3 seconds, about 67 a second on the two platforms together), while the connector's
flows process the webhooks both platforms send: shuffled, some twice, and every store event
taken by two workers writing the same SKU (two bindings of the inventory flow, as two servers
would run it), with a safety buffer of 2. The race itself is simulators/sale_race.py.

What the connector guarantees, whatever the pace, and this test holds it to:
- the merchant system never sells a unit twice: its orders (its own and TikTok's, each imported
  once) take at most the 50 units, and its stock never goes below 0;
- a unit sold on TikTok is counted once: held until the order is imported, then only in Shopify's
  stock, and no hold is left but those of orders the store could not take;
- every unit sold beyond the stock is a TikTok order the store refused, kept in the order flow's
  dead letters;
- at the end both sides agree on what may be sold, a reconciliation finds no drift, and no SKU lock
  is left held.

What no copy of stock can guarantee: TikTok's stock is a copy of Shopify's, updated after the
sale it copies, so two platforms can sell the same last units in the same moment. How many
depends on the pace and on how fast the flows keep up on the machine, so no count is asserted
alone: the test runs the same race again with the store's stock events held until it is over
(stock written by the scheduled runs only, as a polling integration would) and holds the
connector to fewer units sold beyond the stock than that, both runs on the same machine at the
same moment. `make bench ARGS=P10` (bench/p10_sale_race.py) measures the counts at several paces
and buffers.
"""

from __future__ import annotations

import dataclasses

import pytest

from simulators.sale_race import Race, run_race

pytestmark = pytest.mark.slow

RACE = Race(units=50, attempts=200, spread_seconds=3.0, buffer=2)


def test_fifty_units_two_hundred_buyers_on_both_platforms(tmp_path):
    out = run_race(RACE, tmp_path)
    assert not out.failures, out.failures
    assert out.flows_ok
    print(f"\nsold: {out.sold['shopify']} in Shopify, {out.sold['tiktok']} on TikTok ({len(out.imported)} "
          f"imported, {len(out.refused)} the store could not take: sold in the same instant as its last units)")

    # The merchant system sold each unit at most once, and never went below 0.
    assert out.direct_orders == out.sold["shopify"]
    assert out.units_out == out.direct_orders + len(out.imported) <= RACE.units
    assert all(units >= 0 for units in out.levels) and sum(out.levels) == RACE.units - out.units_out
    # Every TikTok order was imported once, or refused by the store for lack of stock.
    assert not out.duplicate_names
    assert set(out.refused) <= out.dead_letters
    # What was sold beyond the stock is exactly those refused orders: none reached the store.
    assert out.oversold(RACE.units) == len(out.refused)
    # A TikTok sale is counted once: what is still held is exactly the refused orders' units.
    assert out.reserved == ({out.sku: len(out.refused)} if out.refused else {})
    # No lock left, both sides agree on what may still be sold, and the reconciliation found
    # nothing to repair.
    assert out.lock_holders == {}
    assert out.offered == max(0, sum(out.levels) - len(out.refused) - RACE.buffer)
    assert not out.drift

    # The stock events kept TikTok's copy close enough to sell fewer units beyond the stock than
    # the same race with stock written by the scheduled runs alone.
    polled = run_race(dataclasses.replace(RACE, stock_events=False, merchant="acme_polled"), tmp_path)
    assert not polled.failures and polled.flows_ok
    print(f"oversold: {out.oversold(RACE.units)} with stock events, {polled.oversold(RACE.units)} by polling")
    assert out.oversold(RACE.units) < polled.oversold(RACE.units)
