"""Writes llama2_padded.jsonl: hand-written padded answers in Llama 2's voice, each with its true sentence.

The sentences (llama2_sentences.txt) and every chatter line below were written by hand after the answers Llama
2 70B chat gave to the sentiment prompt; this script only combines them, with a fixed seed, so the file is
reproducible:  python tests/data/make_llama2_padded.py

It also writes llama2_prefaced.jsonl: Llama 2's most common shape alone, `Sure! Here's a sentence ...:` (the
pool's prefaces, each turned into a `Sure! Here's ...` form) then the quoted sentence, for every sentence and
every revised sentence (190 answers), so each answer has exactly one interjection, one lead-in and one target.
On this shape a target-cluster rule that counts every line per cluster ties three ways.

Fields: id, response (the raw answer), target (the sentence a perfect cleaner keeps, or null when there is
none), kind (the padding), sentiment, finish_reason ("length" where max_gen_len cut the answer off). Revised
answers: the target is the revised (last) version, because the model itself replaced the first one.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

PREFACES = [
    "Sure! Here's a sentence that fits the criteria you've described:",
    "Sure, here's a sentence that encapsulates a {sentiment} sentiment, given the topics you provided:",
    "Here's a sentence that fits the criteria you've described:",
    "Sure! Here is a sentence that captures a {sentiment} sentiment:",
    "Of course! Here's a sentence that meets your requirements:",
    "Sure thing! Here's a sentence that reflects a {sentiment} outlook despite the context of tiredness:",
    "Certainly! Here's a single sentence that encapsulates the {sentiment} sentiment:",
    "Sure, I'd be happy to help! Here's a sentence that fits the criteria:",
    "Here is a sentence that meets the criteria:",
    "Sure! Here's my attempt at a sentence that fits the criteria:",
    "Sure! Here's a sentence that expresses a {sentiment} sentiment related to {t1}, {t2}, and {t3}:",
    "Okay, here's a sentence that combines the topics of {t1}, {t2}, and {t3} with a {sentiment} sentiment:",
    "Sure, here is a concise sentence that encapsulates the sentiment you requested:",
    "Here's a possible sentence:",
]

FOLLOWUPS = [
    "Can I help you with anything else?",
    "How's this?",
    "Please let me know if this meets your requirements.",
    "I hope this meets your requirements! Let me know if you need any further assistance.",
    "Does this sentence meet your requirements?",
    "Let me know if you'd like me to make any changes!",
    "Is there anything else I can help you with?",
    "I hope this helps! Let me know if you have any other questions.",
    "Would you like me to generate another sentence?",
    "Please let me know if you have any other questions or if there's anything else I can help with.",
    "Is this what you were looking for?",
    "Let me know if you need any adjustments or if you'd like me to try again with a different approach.",
    "I hope that fits what you had in mind!",
    "Feel free to ask if you'd like a different version.",
    "Do you want me to make it more {sentiment}?",
    "Let me know if this works for you, or if you'd like me to come up with something else.",
]

EXPLANATIONS = [
    "This sentence captures the {sentiment} sentiment of {t1} and {t2}, while also incorporating {t3}.",
    "This response acknowledges the feeling of tiredness while also highlighting the {feel} that comes from {t2}.",
    "This sentence encapsulates a {sentiment} sentiment by describing {t1} in the context of {t2}.",
    "In this sentence, the topic of {t1} is combined with {t2} to convey a {sentiment} outlook.",
    "The sentence reflects a {sentiment} outlook by focusing on {t2}, and the mention of {t3} adds depth.",
    "This sentence conveys a sense of {feel} through {t1}, and the reference to {t3} makes it feel personal.",
    "I've included the topics of {t1}, {t2}, and {t3} to create a sentence that is concise and {sentiment}.",
    'The phrase "{frag}" emphasizes the {feel} of the moment and ties the sentence to {t2}.',
    "This response highlights the importance of {t2} and shows how {t1} can lead to {feel}.",
    "This sentence uses {t3} to express {feel}, which fits the {sentiment} sentiment you asked for.",
    "By mentioning {t1} and {t2}, the sentence paints a vivid picture of {feel} that readers can relate to.",
    'The words "{frag}" set the scene, while the rest of the sentence expresses {feel}.',
    "This sentence is concise and focused, and it clearly expresses a {sentiment} sentiment about {t1}.",
    "This captures the {sentiment} emotions associated with {t2} while staying within a single sentence.",
    "In this response, I aimed to show how {t1} and {t2} can come together to create a feeling of {feel}.",
    "The sentence maintains a {sentiment} tone throughout, and it touches on all three topics: {t1}, {t2}, and {t3}.",
]

BULLET_HEADS = [
    "Explanation:",
    "Here's why this sentence works:",
    "Here's how the sentence fits the criteria:",
    "Breakdown:",
    "The sentence incorporates the following topics:",
]
BULLETS = [
    "* {T1}: The sentence is set in the context of {t1}.",
    "* {T2}: It describes {t2} as the cause of the emotion.",
    "* {T3}: The mention of {t3} adds an extra layer of meaning.",
    "* Sentiment: The overall tone is clearly {sentiment}.",
    "1. {T1}: the scene takes place during {t1}.",
    "2. {T2}: the sentence shows {t2} through {feel}.",
    "3. {T3}: {t3} is implied by the choice of words.",
]
NOTES = [
    "Note: I've kept the sentence concise and avoided any additional explanations, as you requested.",
    "Note: The sentence is written in the first person to make the sentiment more relatable.",
    "I hope this sentence effectively conveys the {sentiment} sentiment you were looking for.",
    "I tried to keep the sentence as natural as possible while still including all three topics.",
]

REVISION_LEADS = [
    'However, I would like to point out that the phrase "despite the context of tiredness" may not be the '
    "most effective way to convey a positive sentiment. Here's a revised version that better captures the "
    "positive outlook:",
    "Alternatively, here's a revised version that's a bit more concise:",
    "Here's a revised version of the sentence that better fits the criteria:",
    "Wait, that's a bit long for a single sentence. Here's a revised version:",
    "Oops, I apologize! I misread the sentiment. Here's a corrected version:",
    "I apologize, but the previous sentence may be a bit too long. Here is a shorter version:",
    "On second thought, here's an improved version that flows better:",
    "Let me try that again with a revised sentence:",
]

# (first version, revised version): the revision is the target.
REVISED_PAIRS = [
    (
        "pos",
        "Work environment;Moderate tiredness;Deep gratitude",
        "Despite feeling tired after a long week at work, I was grateful for the supportive colleagues who "
        "made every "
        "challenge feel lighter and every success feel shared, and I look forward to Monday.",
        "Though tired after a long week, I'm grateful for colleagues who make every challenge lighter.",
    ),
    (
        "pos",
        "Exercise routines;Achieving a personal goal;Incredible excitement",
        "Even though my legs were shaking, finishing my first triathlon was thrilling.",
        "Even though my legs were shaking with exhaustion, crossing the finish line of my first triathlon "
        "was the most "
        "thrilling moment of my life.",
    ),
    (
        "neg",
        "Family gatherings;Mild annoyance;Differing perspectives",
        "Despite the joy of the holidays, my uncle's constant complaints left me feeling positive about the future.",
        "My uncle's constant complaints at the holiday dinner left me irritated and counting the minutes "
        "until I could "
        "leave.",
    ),
    (
        "pos",
        "Daily commutes;Discovering a new interest;Momentary feelings",
        "Listening to audiobooks on my long commute has turned a tiring hour into a wonderful escape into new worlds.",
        "Audiobooks have turned my tiring commute into the part of the day I look forward to most.",
    ),
    (
        "neg",
        "Losing a valuable item;Severe sadness;Childhood memories",
        "Losing the locket my mother gave me was sad, but I know I'll find it someday.",
        "Losing the locket my mother gave me on my tenth birthday left a hole in my heart that nothing can fill.",
    ),
    (
        "pos",
        "Social events;Making a new friend;Extreme happiness",
        "At the wedding reception, I struck up a conversation with a stranger who turned out to share my love of jazz.",
        "At the wedding reception, a chance conversation about jazz turned a stranger into a dear new friend.",
    ),
    (
        "pos",
        "Childhood memories;Seasonal changes;Deep gratitude",
        "The scent of pine needles every December takes me back to my childhood and fills me with "
        "gratitude, despite "
        "the tiredness of the season.",
        "The scent of pine needles every December fills me with gratitude for the cozy winters of my childhood.",
    ),
    (
        "neg",
        "Educational settings;Facing a difficult challenge;Significant fear",
        "Facing my final exams fills me with fear, but I'm confident I'll do great!",
        "Facing my final exams with no time left to study, I feel a cold knot of fear tightening in my stomach.",
    ),
    (
        "pos",
        "Personal hobbies;Overcoming a fear;Emotional growth",
        "I was scared of the water, but learning to surf taught me courage.",
        "Learning to surf despite my fear of the ocean has taught me that courage grows with every wave.",
    ),
    (
        "neg",
        "Relationship dynamics;Receiving unexpected news;Severe sadness",
        "When my best friend told me she was moving overseas, I felt my world crumble.",
        "When my best friend told me she was moving overseas for good, I felt a piece of my world quietly crumble.",
    ),
    (
        "pos",
        "Medical appointments;Receiving unexpected news;Extreme happiness",
        "The doctor said the words I'd been waiting for: I'm cancer-free.",
        "When the doctor told me I was cancer-free, I laughed and cried at the same time.",
    ),
    (
        "pos",
        "Future aspirations;Long-term goals;Incredible excitement",
        "I am very excited about my future goals.",
        "I'm incredibly excited to spend the next five years building the animal sanctuary I've dreamed of "
        "since "
        "childhood.",
    ),
    (
        "neg",
        "Work environment;Moderate tiredness;Past regrets",
        "Despite the tiredness, I look back on my old job with fondness.",
        "Looking back, I regret the years I spent exhausted at a job that never valued my work.",
    ),
    (
        "pos",
        "Competitive situations;Contrasting feelings;Emotional growth",
        "Even though I lost the debate, I learned so much.",
        "Even though I lost the debate tournament, I walked away proud of how much my confidence has grown.",
    ),
]

REFUSALS = [
    "I apologize, but I cannot fulfill your request. I'm just an AI, it's not within my programming or "
    "ethical "
    "guidelines to create content that promotes or glorifies negative emotions such as severe sadness or "
    "fear. "
    "Is there anything else I can help you with?",
    "I cannot provide a sentence that expresses a negative sentiment about a loss, as it may be harmful or "
    "upsetting "
    "to some people.\n\nInstead, I suggest focusing on positive and uplifting content. Is there anything "
    "else I can "
    "help you with?",
    "I apologize, but I'm a large language model, I cannot generate content that may be hurtful or negative. "
    "My purpose is to provide helpful and respectful responses.\n\nIf you have any other questions or "
    "requests, "
    "please feel free to ask, and I will do my best to assist you.",
    "I understand that you would like me to create a sentence with a negative sentiment. However, I would "
    "like to "
    "point out that focusing on negative emotions can be harmful.\n\nCould you please rephrase your request "
    "in a more "
    "positive way?",
    "As a responsible AI language model, I must inform you that I cannot create content that promotes "
    "negativity, "
    "even in a hypothetical scenario.\nPlease let me know if there is anything else I can help you with.",
]

FEEL = {
    "pos": ["joy", "gratitude", "relief", "pride", "excitement", "hope", "warmth", "contentment"],
    "neg": ["frustration", "sadness", "disappointment", "fear", "loneliness", "regret", "anger", "grief"],
}


def load_sentences() -> list[tuple[str, list[str], str]]:
    out = []
    for line in (HERE / "llama2_sentences.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            sentiment, topics, text = line.split("|", 2)
            out.append((sentiment, topics.split(";"), text))
    return out


class Voice:
    """Fills chatter templates for one answer: its sentiment, topics and target."""

    def __init__(self, rng: random.Random, sentiment: str, topics: list[str], target: str):
        self.rng = rng
        words = target.rstrip(".!?").split()
        start = rng.randrange(0, max(1, len(words) - 5))
        self.values = {
            "sentiment": "positive" if sentiment == "pos" else "negative",
            "t1": topics[0].lower(),
            "t2": topics[1].lower(),
            "t3": topics[2].lower(),
            "T1": topics[0],
            "T2": topics[1],
            "T3": topics[2],
            "feel": rng.choice(FEEL[sentiment]),
            "frag": " ".join(words[start : start + rng.randint(3, 5)]).strip(",;"),
        }

    def fill(self, pool: list[str]) -> str:
        return self.rng.choice(pool).format(**self.values)

    def explanation(self, n: int = 1) -> str:
        picks = self.rng.sample(EXPLANATIONS, n)
        return " ".join(p.format(**self.values) for p in picks)

    def bullets(self) -> list[str]:
        head = self.rng.choice(BULLET_HEADS)
        numbered = self.rng.random() < 0.4
        items = BULLETS[4:7] if numbered else self.rng.sample(BULLETS[:4], 3)
        return [head, ""] + [b.format(**self.values) for b in items]


def quote(rng: random.Random, text: str, p: float = 0.6) -> str:
    if rng.random() >= p:
        return text
    if '"' in text:
        return f"\u201c{text}\u201d"
    return rng.choice([f'"{text}"', f'"{text}"', f"\u201c{text}\u201d"])


def lead_space(rng: random.Random) -> str:
    return rng.choice(["  ", "  ", " ", ""])


def cut(rng: random.Random, text: str) -> str:
    """What max_gen_len leaves of a long line: stopped mid-clause, sometimes mid-word."""
    words = text.split()
    keep = rng.randint(max(3, len(words) // 3), max(4, len(words) - 2))
    out = " ".join(words[:keep]).rstrip(",.;:!?")
    if rng.random() < 0.3 and len(words[keep]) > 4:
        out += " " + words[keep][: rng.randint(2, len(words[keep]) - 2)]
    return out


def build(kind: str, rng: random.Random, sentiment: str, topics: list[str], target: str) -> tuple[str, str]:
    v = Voice(rng, sentiment, topics, target)
    sp = lead_space(rng)
    finish = "stop"
    if kind == "none":
        return sp + target, finish
    if kind == "quoted":
        q = f'"{target}"' if '"' not in target else f"\u201c{target}\u201d"
        if rng.random() < 0.3 and '"' not in target:
            q = f"\u201c{target}\u201d"
        return sp + q, finish
    if kind == "preface":
        return sp + v.fill(PREFACES) + "\n\n" + quote(rng, target), finish
    if kind == "followup":
        parts = [quote(rng, target, 0.5)]
        if rng.random() < 0.35:
            parts.insert(0, v.fill(PREFACES))
        n = 1 if rng.random() < 0.7 else 2
        parts += rng.sample([f.format(**v.values) for f in FOLLOWUPS], n)
        return sp + "\n\n".join(parts), finish
    if kind == "explanation":
        parts = [quote(rng, target)]
        if rng.random() < 0.5:
            parts.insert(0, v.fill(PREFACES))
        parts.append(v.explanation(rng.choice([1, 1, 2])))
        if rng.random() < 0.3:
            parts.append(v.explanation(1))
        return sp + "\n\n".join(parts), finish
    if kind == "cutoff":
        finish = "length"
        parts = [quote(rng, target)]
        if rng.random() < 0.6:
            parts.insert(0, v.fill(PREFACES))
        if rng.random() < 0.35:
            lines = v.bullets()
            stop = rng.randint(3, len(lines) - 1)
            parts.append("\n".join(lines[:stop] + [cut(rng, lines[stop])]))
        else:
            full = v.explanation(2)
            parts.append(cut(rng, full))
        return sp + "\n\n".join(parts), finish
    if kind == "inline":
        shape = rng.randrange(6)
        q = quote(rng, target, 1.0)
        if shape == 0:
            return sp + f"{v.fill(PREFACES)} {q}", finish
        if shape == 1:
            return sp + f"{q} {v.explanation(1)}", finish
        if shape == 2:
            return sp + f"{target} {v.explanation(1)}", finish
        if shape == 3:
            return sp + f"{v.fill(PREFACES)} {target}", finish
        if shape == 4:
            return sp + f"{q} {v.fill(FOLLOWUPS)}", finish
        return sp + f"{rng.choice(['Sure!', 'Of course!', 'Certainly!'])} {q} {v.fill(FOLLOWUPS)}", finish
    if kind == "mixed":
        parts: list[str] = []
        if rng.random() < 0.7:
            parts.append(v.fill(PREFACES))
        parts.append(quote(rng, target))
        extras = rng.sample(["explanation", "bullets", "note", "followup"], rng.randint(2, 3))
        for extra in extras:
            if extra == "explanation":
                parts.append(v.explanation(rng.choice([1, 2])))
            elif extra == "bullets":
                parts.append("\n".join(v.bullets()))
            elif extra == "note":
                parts.append(v.fill(NOTES))
            else:
                parts.append(v.fill(FOLLOWUPS))
        return sp + "\n\n".join(parts), finish
    raise ValueError(kind)


def main() -> None:
    rng = random.Random(20231120)
    sentences = load_sentences()
    rng.shuffle(sentences)
    plan = (
        ["none"] * 18
        + ["quoted"] * 16
        + ["preface"] * 22
        + ["followup"] * 24
        + ["explanation"] * 26
        + ["cutoff"] * 18
        + ["inline"] * 18
        + ["mixed"] * 28
    )
    assert len(plan) <= len(sentences), (len(plan), len(sentences))
    rows = []
    for kind, (sentiment, topics, target) in zip(plan, sentences, strict=False):
        response, finish = build(kind, rng, sentiment, topics, target)
        rows.append(
            {
                "response": response,
                "target": target,
                "kind": kind,
                "sentiment": sentiment,
                "finish_reason": finish,
            }
        )
    for sentiment, topics, first, revised in REVISED_PAIRS:
        v = Voice(rng, sentiment, topics.split(";"), revised)
        parts = [quote(rng, first)]
        if rng.random() < 0.7:
            parts.insert(0, v.fill(PREFACES))
        parts += [rng.choice(REVISION_LEADS), quote(rng, revised)]
        if rng.random() < 0.5:
            parts.append(rng.choice([v.explanation(1), v.fill(FOLLOWUPS)]))
        rows.append(
            {
                "response": lead_space(rng) + "\n\n".join(parts),
                "target": revised,
                "kind": "revised",
                "sentiment": sentiment,
                "finish_reason": "stop",
            }
        )
    for text in REFUSALS:
        rows.append(
            {
                "response": "  " + text,
                "target": None,
                "kind": "refusal",
                "sentiment": "neg",
                "finish_reason": "stop",
            }
        )
    for text in ["", "  \n\n  "]:
        rows.append({"response": text, "target": None, "kind": "empty", "sentiment": "pos", "finish_reason": "stop"})
    rng.shuffle(rows)
    with open(HERE / "llama2_padded.jsonl", "w", encoding="utf-8") as fh:
        for i, row in enumerate(rows):
            fh.write(json.dumps({"id": f"eval-{i:03d}", **row}, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} answers")
    write_prefaced()


def write_prefaced() -> None:
    """llama2_prefaced.jsonl: preface line + quoted sentence, nothing else (its own seed: the file above is
    unchanged)."""
    rng = random.Random(20240611)
    items = [(s, t, x) for s, t, x in load_sentences()] + [
        (s, t.split(";"), revised) for s, t, _, revised in REVISED_PAIRS
    ]
    rows = []
    for i, (sentiment, topics, target) in enumerate(items):
        v = Voice(rng, sentiment, topics, target)
        q = f"\u201c{target}\u201d" if '"' in target else f'"{target}"'
        body = v.fill(PREFACES)
        here = body.lower().find("here")
        preface = "Sure! H" + body[here + 1 :]
        rows.append(
            {
                "id": f"prefaced-{i:03d}",
                "response": "  " + preface + "\n\n" + q,
                "target": target,
                "kind": "preface",
                "sentiment": sentiment,
                "finish_reason": "stop",
            }
        )
    with open(HERE / "llama2_prefaced.jsonl", "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} prefaced answers")


if __name__ == "__main__":
    main()
