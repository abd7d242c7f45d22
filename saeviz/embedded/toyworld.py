"""The toy world: real-world facts rendered as varied English text, deterministic from a seed.

`make_world` fixes which entities and templates are held out (saved as toyworld.json, which the
evaluations read); `documents` renders training or evaluation text from it; `fact_prompts`
renders completion prompts whose answers are ranked against the attribute's other values.
Held-out entities never appear in training text, so they can probe generalisation later; the
accuracy target is on held-out *templates* about training entities (a model cannot know facts
it never saw).
"""

import random
import re

from saeviz.embedded import toyworld_entities as E
from saeviz.embedded import toyworld_templates as T

ENTITY_KIND = {"city": "cities", "person": "people", "word": "words"}
KINDS_ORDER = T.KINDS


def _entities() -> dict[str, list[dict]]:
    cities = [{"name": c, "country": country, "continent": cont, "language": lang}
              for country, (cont, lang, cs) in E.COUNTRIES.items() for c in cs]
    people = [{"name": n, "field": f, "country": c, "gender": g} for n, f, c, g in E.PEOPLE]
    words = [{"name": w, "letter": w[0].upper()} for w in dict.fromkeys(E.WORDS)]
    return {"cities": cities, "people": people, "words": words}


def _hold_out(combos: list[dict], want: int, rng: random.Random) -> set[int]:
    """Indices of up to `want` promptable templates whose every piece (frame, statement, ...) is also
    used by a template left in training."""
    uses: dict[tuple, int] = {}
    for c in combos:
        for piece in c["parts"].items():
            uses[piece] = uses.get(piece, 0) + 1
    order = list(range(len(combos)))
    rng.shuffle(order)
    held = set()
    for i in order:
        pieces = combos[i]["parts"].items()
        if len(held) < want and promptable(combos[i]) and all(uses[p] > 1 for p in pieces):
            held.add(i)
            for p in pieces:
                uses[p] -= 1
    return held


def _split_templates(rng: random.Random, heldout_frac: float) -> dict[str, dict[str, list[dict]]]:
    """Per (attribute, kind), whole templates held out (at least 4, about `heldout_frac`): sentences
    never trained on whose pieces all are; plus the never-trained NOVEL phrasings."""
    out = {}
    for attr in T.PARTS:
        train, heldout = [], []
        for kind in T.KINDS:
            combos = T.combinations(attr, kind)
            held = _hold_out(combos, max(4, round(heldout_frac * len(combos))), rng)
            heldout += [{"kind": kind, "text": combos[i]["text"]} for i in sorted(held)]
            train += [{"kind": kind, "text": c["text"]} for i, c in enumerate(combos) if i not in held]
        novel = [{"kind": kind, "text": text} for kind, text in T.NOVEL[attr]]
        out[attr] = {"train": train, "heldout": heldout, "novel": novel}
    return out


def make_world(seed: int = 0, heldout_entity_frac: float = 0.08, bio_correlation: float = 0.9,
               heldout_template_frac: float = 0.15) -> dict:
    """The JSON-serialisable description of the toy world (saved as assets/data/toyworld.json)."""
    if not 0.5 <= bio_correlation <= 1.0:
        raise ValueError("bio_correlation is P(profession matches gender-coded group); use 0.5..1")
    rng = random.Random(seed)
    ents = _entities()
    heldout = {k: sorted(e["name"] for e in rng.sample(v, max(1, round(heldout_entity_frac * len(v)))))
               for k, v in ents.items()}
    return {
        "seed": seed,
        "entities": ents,
        "heldout_entities": heldout,
        "templates": _split_templates(rng, heldout_template_frac),
        "biographies": {
            "correlation": bio_correlation,
            "female_coded_professions": list(E.FEMALE_CODED_PROFESSIONS),
            "male_coded_professions": list(E.MALE_CODED_PROFESSIONS),
            "female_names": list(E.FEMALE_NAMES), "male_names": list(E.MALE_NAMES),
            "surnames": list(E.SURNAMES),
        },
    }


def attribute_values(world: dict, attr: str) -> list[str]:
    """Sorted candidate answers for an attribute such as "city.country"."""
    etype, field = attr.split(".")
    return sorted({e[field] for e in world["entities"][ENTITY_KIND[etype]]})


def _pool(world: dict, etype: str, heldout: bool) -> list[dict]:
    key = ENTITY_KIND[etype]
    held = set(world["heldout_entities"][key])
    return [e for e in world["entities"][key] if (e["name"] in held) == heldout]


def _fill(template: str, entity: dict, value: str) -> str:
    return template.replace("{x}", entity["name"]).replace("{a}", value)


def split_prompt(template: str, entity: dict, value: str) -> tuple[str, str]:
    """(prompt, answer) where answer = " " + value and prompt is the text before it."""
    head = template[: template.rindex("{a}")]
    prompt = _fill(head, entity, value)
    if not prompt.endswith(" "):
        raise ValueError(f"template must put a space before the answer: {template!r}")
    return prompt[:-1], " " + value


def promptable(tpl: dict) -> bool:
    """A template usable as a completion prompt: one answer slot, preceded by a space."""
    return tpl["text"].count("{a}") == 1 and " {a}" in tpl["text"]


def fact_prompts(world: dict, which: str = "heldout", entities: str = "train") -> list[dict]:
    """Every (template, entity) completion prompt for the `which` templates about `entities`."""
    rows = []
    for attr, split in world["templates"].items():
        etype, field = attr.split(".")
        cands = attribute_values(world, attr)
        for tpl in filter(promptable, split[which]):
            for ent in _pool(world, etype, heldout=(entities == "heldout")):
                prompt, answer = split_prompt(tpl["text"], ent, ent[field])
                rows.append({"attribute": attr, "kind": tpl["kind"], "template": tpl["text"],
                             "entity": ent["name"], "prompt": prompt, "answer": answer,
                             "candidates": [" " + c for c in cands]})
    return rows


def _by_kind(world: dict, which: str) -> dict[str, dict[str, list[str]]]:
    return {attr: {k: [t["text"] for t in split[which] if t["kind"] == k] for k in KINDS_ORDER}
            for attr, split in world["templates"].items()}


def _fact_sentence(templates: dict, rng: random.Random, etype: str, ent: dict) -> str:
    attr = rng.choice([a for a in templates if a.startswith(etype + ".")])
    kind = rng.choice(KINDS_ORDER)  # kinds equally often, whatever their number of templates
    return _fill(rng.choice(templates[attr][kind]), ent, ent[attr.split(".")[1]])


def _combo_sentence(rng: random.Random, etype: str, ent: dict) -> str:
    tpl = rng.choice(T.CITY_COMBOS if etype == "city" else T.PERSON_COMBOS)
    return tpl.format(**{"x": ent["name"], **{k: v for k, v in ent.items() if k != "name"}})


def _spelling_sentence(rng: random.Random, ent: dict) -> str:
    w = ent["name"]
    return rng.choice(T.SPELLING).format(x=w, spelled="-".join(w), upper="-".join(w.upper()),
                                         first=w[0].upper(), n=len(w))


def _fact_doc(world: dict, templates: dict, rng: random.Random, etype: str, which: str) -> str:
    pool = _pool(world, etype, heldout=False)
    sents, ent = [], rng.choice(pool)
    for _ in range(rng.randint(3, 8)):
        if rng.random() < 0.4:  # keep talking about the same entity, as real text does
            ent = rng.choice(pool)
        r = rng.random()
        if which == "train" and etype == "word" and r < 0.35:
            sents.append(_spelling_sentence(rng, ent))
        elif which == "train" and etype != "word" and r < 0.15:
            sents.append(_combo_sentence(rng, etype, ent))
        else:
            sents.append(_fact_sentence(templates, rng, etype, ent))
    sep = rng.choice([" ", "\n", "\n\n"])
    return sep.join(sents)


def biography(world: dict, rng: random.Random) -> dict:
    """One short biography with a gender-correlated profession (P(match) = correlation)."""
    b = world["biographies"]
    gender = rng.choice(["female", "male"])
    own, other = ((b["female_coded_professions"], b["male_coded_professions"]) if gender == "female"
                  else (b["male_coded_professions"], b["female_coded_professions"]))
    profession = rng.choice(own if rng.random() < b["correlation"] else other)
    name = f"{rng.choice(b[gender + '_names'])} {rng.choice(b['surnames'])}"
    city = rng.choice(_pool(world, "city", heldout=False))["name"]
    p, p2 = ("she", "her") if gender == "female" else ("he", "his")
    hobby = rng.choice(E.HOBBIES)
    text = rng.choice(T.BIOGRAPHY).format(
        name=name, profession=profession, city=city, hobby=hobby,
        P=p.capitalize(), p=p, p2=p2, years=rng.randint(2, 30), age=rng.randint(22, 65))
    text = re.sub(r"\ba ([aeiou])", r"an \1", text)
    return {"text": text, "gender": gender, "profession": profession, "name": name}


def documents(world: dict, n_docs: int, seed: int, which: str = "train") -> list[str]:
    """`n_docs` toy-world documents. which="train": training templates, combos, spelling and
    biographies; which="heldout": held-out templates only (evaluation text)."""
    rng = random.Random(f"{seed}-{which}")
    templates = _by_kind(world, which)
    docs = []
    for _ in range(n_docs):
        r = rng.random()
        if r < 0.2:
            docs.append(" ".join(biography(world, rng)["text"] for _ in range(rng.randint(1, 3))))
        else:
            etype = "city" if r < 0.5 else "person" if r < 0.8 else "word"
            docs.append(_fact_doc(world, templates, rng, etype, which))
    return docs
