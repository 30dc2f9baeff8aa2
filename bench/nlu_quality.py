"""NLU quality on the held-out test set (tests/nlu/<lang>/), per language.

Prints intent macro-F1, the share of out-of-scope messages routed to the fallback, language
identification on the test messages, and the most frequent confusions. With --gate it exits
non-zero below the targets (macro-F1 >= 0.95 per language, out-of-scope >= 0.90): `make test`
runs it that way.

A prediction of `nlu_fallback` counts as `out_of_scope`: both lead to the same fallback answer.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

from sklearn.metrics import f1_score

from actions.services.yamlfiles import PROJECT_ROOT

TEST_DIR = PROJECT_ROOT / "tests" / "nlu"
FALLBACK_INTENTS = {"nlu_fallback", "out_of_scope"}
MIN_MACRO_F1 = 0.95
MIN_OUT_OF_SCOPE = 0.90


def load_examples(lang: str, test_dir: Path = TEST_DIR) -> List[Tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(test_dir / lang))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


def routed(intent: str) -> str:
    return "out_of_scope" if intent in FALLBACK_INTENTS else intent


async def evaluate(model: str, test_dir: Path = TEST_DIR) -> Dict[str, Dict[str, float]]:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    results: Dict[str, Dict[str, float]] = {}
    for lang in ("es", "en"):
        examples = load_examples(lang, test_dir)
        truth, predicted, languages, errors = [], [], collections.Counter(), collections.Counter()
        started = time.perf_counter()
        for text, intent in examples:
            parsed = await agent.parse_message(text)
            guess = routed(parsed["intent"]["name"])
            truth.append(routed(intent))
            predicted.append(guess)
            detected = [e["value"] for e in parsed["entities"] if e["entity"] == "language"]
            languages[detected[0] if detected else "kept"] += 1
            if guess != routed(intent):
                errors[(routed(intent), guess)] += 1
        elapsed = time.perf_counter() - started
        labels = sorted(set(truth))
        oos = [p for t, p in zip(truth, predicted) if t == "out_of_scope"]
        crisis = [p for t, p in zip(truth, predicted) if t.startswith("crisis_")]
        results[lang] = {
            "examples": len(examples),
            "macro_f1": f1_score(truth, predicted, labels=labels, average="macro", zero_division=0),
            "accuracy": sum(t == p for t, p in zip(truth, predicted)) / len(truth),
            "out_of_scope_to_fallback": sum(p == "out_of_scope" for p in oos) / max(len(oos), 1),
            # Safety: crisis messages that got emergency numbers (any crisis kind).
            "crisis_recall": sum(p.startswith("crisis_") for p in crisis) / max(len(crisis), 1),
            "language_right": languages[lang] / len(examples),
            "language_kept": languages["kept"] / len(examples),
            "language_wrong": 1 - (languages[lang] + languages["kept"]) / len(examples),
            "ms_per_parse": 1000 * elapsed / len(examples),
        }
        print(f"\n[{lang}] {len(examples)} held-out examples, {len(labels)} intents")
        for key, value in results[lang].items():
            if key != "examples":
                print(f"  {key:26s} {value:.3f}")
        print("  most frequent confusions (true -> predicted):")
        for (true, guess), count in errors.most_common(8):
            print(f"    {count:2d}  {true} -> {guess}")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(PROJECT_ROOT / "models" / "retorno.tar.gz"))
    parser.add_argument("--gate", action="store_true", help="fail below the quality targets")
    parser.add_argument("--tests", type=Path, default=TEST_DIR,
                        help="folder with es/ and en/ test files (default tests/nlu)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # Rasa's debug log would print every test message
    results = asyncio.run(evaluate(args.model, args.tests))
    failed = [
        f"{lang}: {name} {value:.3f} < {target}"
        for lang, r in results.items()
        for name, value, target in (("macro_f1", r["macro_f1"], MIN_MACRO_F1),
                                    ("out_of_scope_to_fallback", r["out_of_scope_to_fallback"],
                                     MIN_OUT_OF_SCOPE))
        if value < target
    ]
    if args.gate:
        print("\nNLU quality gate:", "FAILED\n  " + "\n  ".join(failed) if failed else "passed")
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
