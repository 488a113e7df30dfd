"""Multi-hop deduction over a small theory of facts and rules (ProofWriter/RuleTaker style).

The theory is built backwards from the query: a chain of ``depth`` rules, each turning the
previous link (plus, sometimes, one extra given fact) into the next, so the query holds at
exactly forward-chaining depth ``depth``. Distractor facts and rules (more with difficulty)
never conclude a chain attribute, so they cannot shortcut the proof; forward chaining in the
generator re-checks that anyway. Answers use the closed-world assumption: "True" when the
query is derivable, "False" otherwise (a False item is the same theory with one link of the
chain removed, so it looks just as provable at a glance).
"""

from __future__ import annotations

import random

from pydantic import Field

from tracemint.synth.base import Family, FamilyConfig, Item, families
from tracemint.synth.families._answers import prepare

ENTITIES = (
    "Anne", "Bob", "Charlie", "Dave", "Erin", "Fiona", "Gary", "Harry",
    "the bear", "the cat", "the dog", "the mouse", "the lion", "the rabbit", "the squirrel",
)  # fmt: skip
ATTRIBUTES = (
    "big", "red", "strong", "kind", "round", "green", "young", "rough", "nice", "cold",
    "blue", "furry", "quiet", "smart", "white", "rich", "calm", "sleepy", "tall", "heavy",
    "shiny", "brave", "loud", "wise",
)  # fmt: skip

Fact = tuple[str, str]
Rule = tuple[tuple[str, ...], str]


class RuleChainingConfig(FamilyConfig):
    # Rule applications the proof of the query needs (0: the query is a given fact).
    depth: int = Field(2, ge=0, le=6)


def forward_chain(facts: set[Fact], rules: list[Rule]) -> dict[Fact, int]:
    """Every derivable fact with the round it first appears in (given facts are round 0)."""
    depth = dict.fromkeys(facts, 0)
    entities = {e for e, _ in facts}
    rnd = 0
    while True:
        rnd += 1
        known = set(depth)
        new = {
            (e, concl)
            for premises, concl in rules
            for e in entities
            if (e, concl) not in known and all((e, p) in known for p in premises)
        }
        if not new:
            return depth
        for fact in new:
            depth[fact] = rnd


def sentence(entity: str, attr: str) -> str:
    return f"{entity[0].upper()}{entity[1:]} is {attr}."


def rule_text(rule: Rule, style: int) -> str:
    premises, concl = rule
    if len(premises) == 1:
        (p,) = premises
        forms = (
            f"All {p} things are {concl}.",
            f"If someone is {p} then they are {concl}.",
            f"{p.capitalize()} people are {concl}.",
        )
    else:
        p, q = premises
        forms = (
            f"If someone is {p} and {q} then they are {concl}.",
            f"{p.capitalize()}, {q} things are {concl}.",
            f"All {p}, {q} people are {concl}.",
        )
    return forms[style % 3]


@families.register("rule_chaining")
class RuleChaining(Family):
    """Is-it-provable questions; the gold rationale is the proof, one rule per line."""

    name = "rule_chaining"
    config_class = RuleChainingConfig

    def make(self, rng: random.Random) -> Item:
        cfg = self.config
        assert isinstance(cfg, RuleChainingConfig)
        while True:  # retries are rare: only a distractor fact can make the False query provable
            item = self._attempt(rng, cfg)
            if item is not None:
                return item

    def _attempt(self, rng: random.Random, cfg: RuleChainingConfig) -> Item | None:
        d = cfg.depth
        label = rng.random() < 0.5
        entity, *others = rng.sample(ENTITIES, 4)
        attrs = rng.sample(ATTRIBUTES, len(ATTRIBUTES))
        chain, pool = attrs[: d + 1], attrs[d + 1 :]
        extras = [pool.pop() if rng.random() < 0.5 else None for _ in range(d)]
        chain_rules: list[Rule] = [
            ((chain[i], extra) if extra else (chain[i],), chain[i + 1])
            for i, extra in enumerate(extras)
        ]
        given: list[Fact] = [(entity, chain[0])] + [(entity, x) for x in extras if x]
        facts = list(given)
        if d == 0 and not label:
            target = pool.pop()  # some other entity has it; ours does not
            facts = [(others[0], target)]
        else:
            target = chain[-1]
        if not label and d > 0:
            facts.remove(rng.choice(given))  # break one link of the chain
        if rng.random() < 0.5:  # another entity satisfies the whole chain: a tempting decoy
            facts += [(others[1], a) for _, a in given]
        distractor_rules: list[Rule] = []
        n_distractors = 1 + cfg.difficulty
        for _ in range(n_distractors):
            if rng.random() < 0.5:
                who = rng.choice([entity, *others])
                choices = pool if who == entity else attrs
                facts.append((who, rng.choice(choices)))
            else:
                k = rng.choice((1, 2))
                premises = tuple(rng.sample(attrs, k))
                concl = rng.choice([a for a in pool if a not in premises])
                distractor_rules.append((premises, concl))
        fact_set = set(facts)
        rules = chain_rules + distractor_rules
        derived = forward_chain(fact_set, rules)
        query = (entity, target)
        if label != (query in derived) or (label and derived[query] != d):
            return None

        lines = [sentence(e, a) for e, a in dict.fromkeys(facts)]
        styles = [rng.randrange(3) for _ in rules]
        lines += [rule_text(r, s) for r, s in zip(rules, styles, strict=True)]
        rng.shuffle(lines)
        claim = f"{entity} is {target}"
        question = (
            "Facts and rules:\n"
            + "\n".join(lines)
            + f"\n\nUsing only these facts and rules, does it follow that {claim}? "
            # No "true"/"false" here: clean_answer rejects an answer found in the question.
            "Anything that cannot be derived counts as not the case (closed-world "
            "assumption). Give a boolean answer."
        )
        answer = "True" if label else "False"
        if label:
            steps = [sentence(*query)] if d == 0 else []
            for rule, style in zip(chain_rules, styles, strict=False):
                premises, concl = rule
                said = " ".join(sentence(entity, p) for p in premises)
                text = rule_text(rule, style).rstrip(".")
                steps.append(f"{said} {text}, so {sentence(entity, concl)}")
        else:
            known = sorted((a for (e, a), _ in derived.items() if e == entity), key=attrs.index)
            said = ", ".join(known) if known else "nothing"
            steps = [
                f"What can be derived about {entity}: {said}.",
                f"No fact or rule derives that {claim}, so under the "
                f"closed-world assumption {entity} is not {target}.",
            ]
        rationale = "\n".join([*steps, f"The answer is {answer}."])
        data = {
            "facts": [list(f) for f in sorted(fact_set)],
            "rules": [[list(p), c] for p, c in rules],
            "query": list(query),
            "depth": d,
            "label": label,
        }
        return Item(question, answer, rationale, data)

    def check(self, answer: str, item: Item) -> bool:
        a = prepare(answer, item)
        return a is not None and a.lower() in ("true", "false") and a.lower() == item.answer.lower()
