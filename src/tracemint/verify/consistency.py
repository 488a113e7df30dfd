"""Self-consistency: the majority answer among several samples, grouping equivalent ones.

Used where there is no reference (or to measure agreement): "1/2", "0.5" and
"\\frac{1}{2}" are one vote. Grouping compares each answer with each group's first
member (its representative); only a decided "equal" joins a group, so an undecidable
pair never inflates agreement.
"""

from __future__ import annotations

from .equivalence import compare


def majority_vote(answers: list[str | None]) -> tuple[str | None, float]:
    """Return (representative of the largest group, its size / len(answers)).

    The ratio is over *all* answers, ``None`` included, so missing answers lower the
    agreement. Ties go to the group seen first. ``(None, 0.0)`` when nothing was answered.
    """
    groups: list[list[str]] = []
    for answer in answers:
        if answer is None or not answer.strip():
            continue
        for group in groups:
            if group[0] == answer or compare(group[0], answer).equal:
                group.append(answer)
                break
        else:
            groups.append([answer])
    if not groups:
        return None, 0.0
    best = max(groups, key=len)  # max keeps the first of equal-sized groups
    return best[0], len(best) / len(answers)
