"""The word lists the selection uses: the seed's step-B pattern, revision and alternative cues, refusals.

Everything else the selector knows about chatter it learns from the run (`scorer.py`); these are matters of
wording. They are drawn from the generator's pools, the held-out set and the dev set, never the test set
(tests/data/README.md).
"""

from __future__ import annotations

import re

# The seed article's step B: in the target cluster, lines talking about "this response|this sentence" are chatter.
SEED_B_PATTERN = re.compile(r"this response|this sentence", re.IGNORECASE)

# What the model says *between* two versions of its sentence decides which one it meant: a revision replaces the
# first ("Scratch that, here's a stronger one:", "Hmm, that feels flat. Let me rewrite it:"), an alternative
# only adds one ("Or, if you'd like something shorter:", "Option 2:"). They only ever choose between two sentences
# that both scored as targets or sit in the target cluster, and without a cue the earlier sentence is kept.
REVISION_PATTERN = re.compile(
    r"\b(revis\w*|correct\w*|updat\w*|improv\w*|rewrit\w*|rephras\w*|reword\w*|modif\w*|adjust\w*|tweak\w*|"
    r"fix|scratch that|on second thought|on reflection|oops|actually|wait|hmm|instead|"
    r"another (?:version|try|attempt)|new version|try (?:that|this|it) again|let me (?:try|make|give|fix)|"
    r"(?:too|a bit|a little) (?:plain|flat|long)|undersell\w*|does(?:n't| not) quite work|"
    r"better|stronger|shorter|longer|more (?:vivid|concise))\b",
    re.IGNORECASE,
)
ALTERNATIVE_PATTERN = re.compile(
    r"(?:^|[\s(])(?:or|alternatively)\b|\banother option\b|\bif you(?:'d| would)? (?:prefer|like)\b|"
    r"\boptions? ?\d\b|\btwo options\b",
    re.IGNORECASE,
)
# A cue this strong means a replacement even when an alternative cue is there too.
STRONG_REVISION = re.compile(
    r"\b(revis\w*|correct\w*|rewrit\w*|fix|scratch that|on second thought|oops)\b", re.IGNORECASE
)

# A model declining the task (the seed's refusals, the audit's and the dev set's wordings). The first line of
# defence against keeping a refusal; the learned scores are the second: a line that does not score as a target
# and whose words are this run's chatter words is not kept when nothing else in the answer vouches for it.
REFUSAL_PATTERN = re.compile(
    r"\bI(?:'m| am) (?:just )?an? (?:AI|artificial intelligence|(?:large )?language model)\b|"
    r"\bas an? (?:responsible |helpful |ethical )?(?:AI|language model|assistant)\b|"
    r"\bI(?: cannot| can't| can not| won't|(?: am|'m) (?:unable|not able) to) (?:fulfill|complete|comply|"
    r"provide|create|generate|write|produce|help with|assist with)\b|"
    r"\bI(?:'d| would) (?:prefer|rather) not\b|\bI'd rather (?:steer|stay) away\b|"
    r"\bI(?:'m| am) not comfortable\b|\bI don't feel right\b|\b(?:must|have to) (?:respectfully )?decline\b|"
    r"\bpass on this\b|\bappropriate for me to\b|\bdoesn't sit right\b|"
    r"\bagainst my (?:guidelines|programming|principles)\b|"
    r"\b(?:your|this) request\b|\bethical (?:guidelines|principles|standards)\b",
    re.IGNORECASE,
)
