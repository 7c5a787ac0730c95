"""Did-you-mean: the close names to offer when a scenario, a command line, a setting or a fault rule misspells one.

difflib's similarity ratio finds most typos but misses the commonest one in a short word — two neighbouring letters
swapped (``kye`` scores 0.67 against ``key``) — so a name one edit away (a letter added, dropped or changed, or two
neighbours swapped: the Damerau–Levenshtein distance 1) counts as close as well.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_names(word: str, candidates: Iterable[object], *, limit: int = 3, cutoff: float = 0.7) -> list[str]:
    """The candidates that ``word`` probably meant, best first (empty when none is close)."""
    names = [str(c) for c in candidates]
    close = difflib.get_close_matches(word, names, n=limit, cutoff=cutoff)
    if not close and len(word) >= 3:
        close = [name for name in names if one_edit_apart(word.lower(), name.lower())][:limit]
    return close


def did_you_mean(word: str, candidates: Iterable[object], *, limit: int = 3, cutoff: float = 0.7) -> str:
    """`` (did you mean x?)`` when ``word`` looks like a misspelling of one of ``candidates``, else empty."""
    close = close_names(word, candidates, limit=limit, cutoff=cutoff)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def one_edit_apart(a: str, b: str) -> bool:
    """Whether ``a`` becomes ``b`` by one insertion, deletion, substitution or swap of adjacent letters."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diffs) == 1:
            return True
        if len(diffs) != 2 or diffs[1] != diffs[0] + 1:
            return False
        i, j = diffs
        return a[i] == b[j] and a[j] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k, (x, y) in enumerate(zip(short, long, strict=False)) if x != y), len(short))
    return short[i:] == long[i + 1 :]
