"""Scoring throughput at province scale, as a ratio to decoding the same answers with msgspec alone.

A Hunan-sized batch: 2,000 townships and 29,000 villages with realistic generated answers (JSON,
as they arrive from phones). Baseline, measured in the same run: msgspec-decoding those bytes.
Measured: decode + score every unit (townships with their villages' answers as child facts).

    .venv/bin/python bench/bench_scoring.py [--townships N] [--villages N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time

import msgspec

from checklists.loader import load_catalog
from checklists.model import AnswerSheet, ChildFacts
from checklists.samples import sample_sheet
from checklists.scoring import score

AS_OF = dt.date(2024, 11, 20)


def build_batch(townships: int, villages: int, seed: int = 7) -> tuple[list[bytes], list[bytes], str, str]:
    catalog = load_catalog()
    t_std, v_std = catalog.get("hunan.township.liuyou"), catalog.get("hunan.village.sanyou")
    rng = random.Random(seed)
    per = max(1, villages // max(1, townships))
    village_docs, township_docs = [], []
    for t in range(townships):
        children = []
        for v in range(per if t < townships - 1 else villages - per * (townships - 1)):
            sheet = sample_sheet(v_std, rng, quality=rng.uniform(0.6, 1.0), as_of=AS_OF, unit=f"村{t}-{v}")
            village_docs.append(msgspec.json.encode(sheet))
            children.append(ChildFacts(unit=sheet.unit, answers=sheet.answers))
        attrs = {"forested": rng.random() < 0.3}
        sheet = sample_sheet(
            t_std, rng, quality=rng.uniform(0.6, 1.0), as_of=AS_OF, unit=f"镇{t}", attributes=attrs, children=children
        )
        township_docs.append(msgspec.json.encode(sheet))
    return township_docs, village_docs, t_std.ref, v_std.ref


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--townships", type=int, default=2000)
    ap.add_argument("--villages", type=int, default=29000)
    args = ap.parse_args()

    t0 = time.perf_counter()
    townships, villages, t_ref, v_ref = build_batch(args.townships, args.villages)
    catalog = load_catalog()
    t_std, v_std = catalog.get(t_ref), catalog.get(v_ref)
    docs = townships + villages
    size = sum(map(len, docs))
    print(f"generated {len(townships)} townships + {len(villages)} villages ({size / 1e6:.1f} MB JSON) "
          f"in {time.perf_counter() - t0:.1f}s")

    decoder = msgspec.json.Decoder(AnswerSheet)
    t0 = time.perf_counter()
    for d in docs:
        decoder.decode(d)
    decode_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    passed = 0
    for d in townships:
        passed += score(t_std, decoder.decode(d), AS_OF).passed
    for d in villages:
        passed += score(v_std, decoder.decode(d), AS_OF).passed
    score_s = time.perf_counter() - t0

    n = len(docs)
    print(f"decode only (baseline):  {n / decode_s:12,.0f} units/s")
    print(f"decode + score:          {n / score_s:12,.0f} units/s   ({score_s:.2f}s for the province)")
    print(f"ratio score/decode:      {decode_s / score_s:12.3f}   (1.0 would mean scoring is free)")
    print(f"units 达标 in the batch: {passed}/{n}")


if __name__ == "__main__":
    main()
