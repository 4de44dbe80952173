"""Write the embedded study's data: pretraining prose, the SFT chat mixture, DPO pairs and the benchmark sets.

    .venv/bin/python data/build_demo_data.py                    # rewrites the committed files byte-identically
    .venv/bin/python data/build_demo_data.py --out-root /tmp/x  # same files under /tmp/x (the tests do this)

Outputs (paths relative to --out-root, default: the repository root):
    data/demo/pretrain.txt            plain prose, documents separated by blank lines
    data/demo/sft.jsonl               {"messages": [...], "category": ...}
    data/demo/dpo.jsonl               {"messages": [...prompt...], "chosen": ..., "rejected": ..., "category": ...}
    evaluate/benchmarks/embedded/     xstest.csv, or-bench.csv, harmbench.csv, strongreject.csv, dilemmas.jsonl

Everything is generated from slot-filled templates (data/demo_gen/) with seeded random streams. Evaluation
sets are built first; any training prompt whose normalised text equals an evaluation prompt is dropped, so
the benchmarks measure behaviour on prompts the models never saw.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from demo_gen import dilemmas, eval_sets, harmful, helpful, lookalike, prose
from demo_gen.text import normalize, rng_for

REPO = Path(__file__).resolve().parents[1]

# Sizes and the SFT mixture (issue 9: ~45% benign, 20% looks-harmful-but-benign, 25% harmful, 10% dilemmas).
PRETRAIN_CHARS = 1_250_000
SFT_COUNTS = {"benign": 1800, "lookalike": 800, "harmful": 1000, "dilemma": 400}
DPO_COUNTS = {"benign": 260, "lookalike": 180, "harmful": 280, "dilemma": 80}
SYSTEM_PROMPTS = [
    "You are a helpful assistant.", "You are a helpful, honest and harmless assistant.",
    "You are a friendly assistant. Keep answers short.", "Answer clearly and concisely.",
    "You are an assistant for a community help desk.", "You are a knowledgeable assistant. Be practical.",
]
SYSTEM_SHARE, MULTI_TURN_SHARE = 0.2, 0.1
MAX_CHAT_CHARS = 700  # ~3 characters a token: keeps every chat under the demo's 256-token max_seq_len

XSTEST_COLUMNS = ["id", "prompt", "type", "label", "focus", "note"]
OR_BENCH_COLUMNS = ["prompt", "category"]
HARMBENCH_COLUMNS = ["Behavior", "FunctionalCategory", "SemanticCategory", "Tags", "ContextString", "BehaviorID"]
STRONGREJECT_COLUMNS = ["category", "source", "forbidden_prompt"]


def write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def build_eval(seed: int) -> dict[str, list]:
    return {
        "xstest": eval_sets.xstest_rows(),
        "or-bench": eval_sets.or_bench_rows(),
        "harmbench": eval_sets.harmbench_rows(rng_for(seed, "harmbench")),
        "strongreject": eval_sets.strongreject_rows(rng_for(seed, "strongreject")),
        "dilemmas": eval_sets.dilemma_rows(),
    }


def eval_prompts(ev: dict[str, list]) -> set[str]:
    texts = [r["prompt"] for r in ev["xstest"]] + [r["prompt"] for r in ev["or-bench"]]
    texts += [r["Behavior"] for r in ev["harmbench"]] + [r["forbidden_prompt"] for r in ev["strongreject"]]
    texts += [dilemmas.prompt_text(d) for d in ev["dilemmas"]]
    return {normalize(t) for t in texts}


def unique_pool(candidates: list, banned: set[str], prompt=lambda c: c[0]) -> list:
    """Keep the first candidate per normalised prompt, dropping evaluation prompts; order is preserved."""
    seen, out = set(banned), []
    for c in candidates:
        key = normalize(prompt(c))
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def family_pools(seed: int, banned: set[str]) -> dict[str, list]:
    """Per family, unique (prompt, good answer, bad answer) candidates in a seeded order."""
    rng = rng_for(seed, "pools")
    refusal_rng = rng_for(seed, "refusals")
    benign = unique_pool(helpful.rows(rng, harmful.TRAIN_FRAMES, 6000), banned)
    look = unique_pool([(p, a) for _, p, a in lookalike.act_rows(rng, harmful.TRAIN_FRAMES)], banned)
    harm = []
    for kind, act, topic in harmful.train_acts():  # the other half of the acts is held out for evaluation
        for frame in harmful.TRAIN_FRAMES:
            harm.append((harmful.request(rng, act, [frame]), kind, act, topic))
    rng.shuffle(harm)
    harm = unique_pool(harm, banned)
    generic_topics = ["that", "this request", "that request"]

    def refuse_benign() -> str:  # the DPO 'rejected' side for benign prompts: an unwarranted refusal
        return harmful.OPENERS[refusal_rng.randrange(len(harmful.OPENERS))].format(topic=refusal_rng.choice(generic_topics))

    return {
        "benign": [(p, helpful.with_opener(rng, a), refuse_benign()) for p, a in benign],
        "lookalike": [(p, helpful.with_opener(rng, a), refuse_benign()) for p, a in look],
        "harmful": [(p, harmful.refusal(refusal_rng, kind, topic), harmful.compliance(refusal_rng, act))
                    for p, kind, act, topic in harm],
    }


def dilemma_pool(seed: int, banned: set[str], n: int) -> list[dict]:
    rng = rng_for(seed, "train-dilemmas")
    # Keyed on system + user: the same situation told to a differently named agent is a different prompt.
    items = unique_pool(dilemmas.training_items(rng, n * 3), banned, lambda d: d["system"] + " " + dilemmas.prompt_text(d))
    return items[:n]


def build_training(seed: int, banned: set[str]) -> tuple[list[dict], list[dict]]:
    pools = family_pools(seed, banned)
    dil = dilemma_pool(seed, banned, SFT_COUNTS["dilemma"] + DPO_COUNTS["dilemma"])
    rng = rng_for(seed, "mixture")
    sft, dpo = [], []
    for fam in ("benign", "lookalike", "harmful"):
        pool = pools[fam]
        n_dpo, n_sft = DPO_COUNTS[fam], SFT_COUNTS[fam]
        if len(pool) < n_dpo + n_sft // 2:
            raise SystemExit(f"{fam}: only {len(pool)} unique prompts for {n_dpo} DPO + {n_sft} SFT rows")
        for p, good, bad in pool[:n_dpo]:
            dpo.append({"messages": [{"role": "user", "content": p}], "chosen": good, "rejected": bad, "category": fam})
        rest = pool[n_dpo:]
        # A pool smaller than the quota repeats prompts (at most twice): real mixtures have near-duplicates too.
        picks = rest[:n_sft] + rng.sample(rest, max(0, n_sft - len(rest)))
        for p, good, _ in picks:
            sft.append({"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": good}], "category": fam})
    for i, item in enumerate(dil):
        messages = [{"role": "system", "content": item["system"]}, {"role": "user", "content": dilemmas.prompt_text(item)}]
        if i < SFT_COUNTS["dilemma"]:
            sft.append({"messages": messages + [{"role": "assistant", "content": dilemmas.answer(item, True)}], "category": "dilemma"})
        else:
            dpo.append({"messages": messages, "chosen": dilemmas.answer(item, True), "rejected": dilemmas.answer(item, False),
                        "category": "dilemma"})
    rng.shuffle(sft)
    benign_turns = [r["messages"] for r in sft if r["category"] == "benign"]
    for row in sft:
        if row["category"] == "dilemma":
            continue
        if rng.random() < MULTI_TURN_SHARE:  # an earlier, unrelated benign exchange in the same chat
            earlier = rng.choice(benign_turns)[-2:]
            if sum(len(m["content"]) for m in earlier + row["messages"]) < MAX_CHAT_CHARS:
                row["messages"] = earlier + row["messages"]
        if rng.random() < SYSTEM_SHARE:
            row["messages"] = [{"role": "system", "content": rng.choice(SYSTEM_PROMPTS)}] + row["messages"]
    rng.shuffle(dpo)
    return sft, dpo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-root", type=Path, default=REPO, help="write under this folder (default: the repository)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    root = args.out_root

    ev = build_eval(args.seed)
    embedded = root / "evaluate" / "benchmarks" / "embedded"
    write_csv(embedded / "xstest.csv", XSTEST_COLUMNS, ev["xstest"])
    write_csv(embedded / "or-bench.csv", OR_BENCH_COLUMNS, ev["or-bench"])
    write_csv(embedded / "harmbench.csv", HARMBENCH_COLUMNS, ev["harmbench"])
    write_csv(embedded / "strongreject.csv", STRONGREJECT_COLUMNS, ev["strongreject"])
    write_jsonl(embedded / "dilemmas.jsonl", ev["dilemmas"])

    sft, dpo = build_training(args.seed, eval_prompts(ev))
    demo = root / "data" / "demo"
    write_jsonl(demo / "sft.jsonl", sft)
    write_jsonl(demo / "dpo.jsonl", dpo)
    docs = prose.corpus(rng_for(args.seed, "pretrain"), PRETRAIN_CHARS)
    demo.mkdir(parents=True, exist_ok=True)
    (demo / "pretrain.txt").write_text("\n\n".join(docs) + "\n", encoding="utf-8", newline="\n")
    print(f"wrote {len(docs)} pretraining documents, {len(sft)} SFT rows, {len(dpo)} DPO pairs, "
          f"{sum(len(v) for v in ev.values())} benchmark items under {root}")


if __name__ == "__main__":
    main()
