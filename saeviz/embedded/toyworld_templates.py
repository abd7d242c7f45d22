"""Phrasings of toy-world facts, built from parts: a framing per template kind around an
attribute's relation phrasing.

A template is a frame of its kind (declarative / question / list / dialogue) filled with one of
the attribute's parts: a statement ({S}/{s}), a question ({Q}/{q}) with an answer lead ({L}/{l}),
or a field label ({Label}/{label}). Capitalised slots take the part as written, lower-case ones
with its first letter lowered. Every template holds `{x}` (the entity) and `{a}` (the answer,
once); where a space precedes `{a}`, the text before it is a completion prompt.

toyworld.py holds some whole templates out of training for evaluation: sentences never seen in
training whose frame and relation phrasing each occur in other training sentences. A small model
cannot learn a relation word it never read, so `NOVEL` adds, per attribute, phrasings whose
relation words appear nowhere in training: a harder contrast, never used to train.
"""

KINDS = ("declarative", "question", "list", "dialogue")

DECLARATIVE_FRAMES = (
    "{S}.", "Everyone knows that {s}.", "It is well known that {s}.", "As the guide explained, {s}.",
    "Here is a fact: {S}.", "In short, {s}.", "My teacher told me that {s}.", "According to the old book, {s}.",
    "Believe it or not, {s}.", "Note: {S}.", "I read somewhere that {s}.", "Of course, {s}.",
)
QUESTION_FRAMES = (
    "Q: {Q}\nA: {L}.", "Question: {Q}\nAnswer: {L}.", "{Q} {L}.", "Someone asked, \"{Q}\" The answer: {L}.",
    "Quiz time. {Q} Reply: {L}.", "I asked myself: {Q} {L}.", "Q. {Q} A. {L}.", "FAQ\n{Q}\n{L}.",
)
LIST_FRAMES = (
    "{E}: {x}\n{Label}: {a}.", "{x} - {label}: {a}.", "| {x} | {label} | {a} |", "{Label} of {x}: {a}.",
    "{x} ({label}: {a}).", "* {x}; {label}: {a}.", "Entry: {x}. {Label}: {a}.", "{E} {x}, {label} {a}.",
)
DIALOGUE_FRAMES = (
    "\"{Q}\" she asked. \"{L}.\"", "Tom: {Q}\nAnna: {L}.", "- {Q}\n- {L}.", "A: {Q}\nB: {L}.",
    "The child asked, \"{Q}\" and the teacher said, \"{L}.\"", "Ben: {Q}\nLucy: Hmm, {l}.",
    "Someone asked, \"{Q}\" He replied: \"{L}.\"", "Maria: Tell me, {q}\nJohn: {L}.",
)
FRAMES = {"declarative": DECLARATIVE_FRAMES, "question": QUESTION_FRAMES, "list": LIST_FRAMES,
          "dialogue": DIALOGUE_FRAMES}
ENTITY_LABEL = {"city": "City", "person": "Name", "word": "Word"}

PARTS: dict[str, dict[str, tuple[str, ...]]] = {
    "city.country": {
        "statements": (
            "{x} is a city in {a}", "{x} is located in {a}", "The city of {x} lies in {a}",
            "{x} is one of the cities of {a}", "My cousin lives in {x}, a city in {a}",
            "If you travel to {x}, you will be in {a}", "{x} can be found in {a}",
            "We flew to {x} and spent a week in {a}",
        ),
        "questions": (
            "Which country is {x} in?", "In what country is {x}?", "Where is {x}?",
            "Which country is home to {x}?", "{x} is a city in which country?",
            "What country would you be in if you were in {x}?",
        ),
        "leads": ("{a}", "It is in {a}", "In {a}", "The answer is {a}", "{x} is in {a}"),
        "labels": ("Country", "Nation", "Home nation", "Country of the city"),
    },
    "city.continent": {
        "statements": (
            "{x} is on the continent of {a}", "The city of {x} is in {a}", "{x} is one of the great cities of {a}",
            "Travelers who visit {x} are in {a}", "Many people in {x} have never left {a}",
            "From {x} you can travel all over {a}", "{x} lies on the continent of {a}",
        ),
        "questions": (
            "On which continent is {x}?", "Which continent is {x} on?", "{x} is on what continent?",
            "What continent is {x} part of?", "Where in the world is {x}?",
            "Is {x} in Europe, Asia, Africa, America or Oceania?",
        ),
        "leads": ("{a}", "It is in {a}", "In {a}", "The continent is {a}", "{x} is in {a}"),
        "labels": ("Continent", "Part of the world", "Region", "Continent of the city"),
    },
    "city.language": {
        "statements": (
            "In {x}, people speak {a}", "The people of {x} speak {a}", "The main language of {x} is {a}",
            "Most people in {x} speak {a}", "When I lived in {x}, I learned to speak {a}",
            "The newspapers of {x} are printed in {a}", "Children in {x} go to school in {a}",
            "In the markets of {x} you will hear {a}",
        ),
        "questions": (
            "What language do people speak in {x}?", "What is spoken in {x}?", "Which language is used in {x}?",
            "What language will I need in {x}?", "In {x}, what do people speak?",
            "Which language do they use in {x}?",
        ),
        "leads": ("{a}", "They speak {a}", "Mostly {a}", "You will need {a}", "People there speak {a}"),
        "labels": ("Language", "Spoken language", "Main language", "Tongue"),
    },
    "person.field": {
        "statements": (
            "{x} is famous for work in {a}", "{x} was a great name in {a}", "{x} made history in {a}",
            "{x} is remembered for a life in {a}", "The work of {x} changed {a}",
            "{x} gave the world great work in {a}", "{x} spent a whole life devoted to {a}",
            "The name {x} is known to everyone who loves {a}",
        ),
        "questions": (
            "What field was {x} known for?", "What did {x} work in?", "In which field did {x} become famous?",
            "{x} is famous in which field?", "What is {x} known for?", "Why is {x} remembered today?",
        ),
        "leads": ("{a}", "In {a}", "For {a}", "Because of {a}", "{x} worked in {a}"),
        "labels": ("Field", "Area of work", "Field of work", "Line of work"),
    },
    "person.country": {
        "statements": (
            "{x} was born in {a}", "{x} came from {a}", "{x} grew up in {a}", "The birthplace of {x} is {a}",
            "Long ago, {x} was born in {a}", "As a child, {x} lived in {a}",
            "{x} is one of the most famous people from {a}", "The first home of {x} was in {a}",
        ),
        "questions": (
            "Where was {x} born?", "Which country was {x} born in?", "What is the country of birth of {x}?",
            "Where did {x} come from?", "{x} was born in which country?", "In what country did {x} grow up?",
        ),
        "leads": ("{a}", "In {a}", "From {a}", "{x} was born in {a}", "It was {a}"),
        "labels": ("Country of birth", "Birthplace", "Home country", "Birth country"),
    },
    "person.gender": {
        "statements": (
            "{x} was a {a}", "{x} is remembered as a famous {a}", "History remembers {x} as a {a}",
            "The person called {x} was a {a}", "Everyone agrees that {x} was a {a}",
            "In every book, {x} is described as a {a}",
        ),
        "questions": (
            "Was {x} a man or a woman?", "What was the gender of {x}?", "{x} was a man or a woman?",
            "Man or woman: {x}?", "Is {x} a man or a woman?",
        ),
        "leads": ("A {a}", "{x} was a {a}", "A famous {a}", "It was a {a}", "Clearly a {a}"),
        "labels": ("Gender", "Sex", "Gender of the person", "Man/woman"),
    },
    "word.letter": {
        "statements": (
            "The word \"{x}\" starts with the letter {a}", "The word {x} begins with {a}",
            "The first letter of \"{x}\" is {a}", "If you write {x}, the first letter is {a}",
            "The word '{x}' starts with {a}", "\"{x}\" is spelled with a first letter {a}",
        ),
        "questions": (
            "What is the first letter of \"{x}\"?", "What letter does {x} start with?",
            "Which letter begins the word {x}?", "How do you start to spell {x}?", "\"{x}\" starts with which letter?",
        ),
        "leads": ("{a}", "With {a}", "It starts with {a}", "The letter {a}", "It begins with {a}"),
        "labels": ("First letter", "Initial", "Initial letter", "Letter"),
    },
}

# Relation words that no training text uses: the harder contrast (never trained, never split).
NOVEL: dict[str, tuple[tuple[str, str], ...]] = {
    "city.country": (("declarative", "{x} pays its taxes to the government of {a}."),
                     ("question", "Q: Whose flag flies over {x}?\nA: The flag of {a}."),
                     ("list", "Town: {x}\nState: {a}."),
                     ("dialogue", "\"Is {x} abroad?\" \"Only if you are not from {a}.\"")),
    "city.continent": (("declarative", "The weather in {x} is typical of {a}."),
                       ("question", "Q: Which landmass holds {x}?\nA: {a}."),
                       ("list", "Town: {x}\nLandmass: {a}."),
                       ("dialogue", "\"Did you sail to {x}?\" \"Yes, all the way to {a}.\"")),
    "city.language": (("declarative", "The songs they sing in {x} are written in {a}."),
                      ("question", "Q: What tongue do the radio hosts of {x} use?\nA: {a}."),
                      ("list", "Town: {x}\nIdiom: {a}."),
                      ("dialogue", "\"Can you read the signs in {x}?\" \"Only if you read {a}.\"")),
    "person.field": (("declarative", "Prizes were given to {x} for achievements in {a}."),
                     ("question", "Q: What subject did {x} master?\nA: {a}."),
                     ("list", "Person: {x}\nDiscipline: {a}."),
                     ("dialogue", "\"Did {x} teach at the school?\" \"Yes, lessons in {a}.\"")),
    "person.country": (("declarative", "The passport of young {x} was issued by {a}."),
                       ("question", "Q: What nation claims {x} as a native?\nA: {a}."),
                       ("list", "Person: {x}\nNative land: {a}."),
                       ("dialogue", "\"Was {x} a local?\" \"A native of {a}.\"")),
    "person.gender": (("declarative", "Photographs show that {x} was a {a}."),
                      ("question", "Q: Was {x} male or female?\nA: A {a}."),
                      ("list", "Person: {x}\nMale or female: {a}."),
                      ("dialogue", "\"Did you meet {x}?\" \"Yes, a kind {a}.\"")),
    "word.letter": (("declarative", "Alphabetically, {x} is filed under {a}."),
                    ("question", "Q: Under which letter would a dictionary list {x}?\nA: {a}."),
                    ("list", "Term: {x}\nInitial sound: {a}."),
                    ("dialogue", "\"Where is {x} in the index?\" \"Under {a}.\"")),
}

# Training-only text that links several attributes at once (never used as an eval prompt).
CITY_COMBOS = (
    "{x} is a city in {country}, a country in {continent} where people speak {language}.",
    "{x}, {country} ({continent}). Language: {language}.",
    "I live in {x}. It is in {country}, and we speak {language} there.",
)
PERSON_COMBOS = (
    "{x} was a {gender} from {country} who worked in {field}.",
    "{x} ({country}, {field}).", "Born in {country}, {x} became famous in {field}.",
)
SPELLING = (
    "The word {x} is spelled {spelled}.", "{x}: {spelled}.", "Spell {x}: {spelled}.",
    "\"{x}\" is written {upper}, and it starts with {first}.",
    "How do you spell {x}? {spelled}.", "{x} has {n} letters: {spelled}.",
)

BIOGRAPHY = (
    "{name} is a {profession}. {P} lives in {city} and enjoys {hobby}.",
    "{name} works as a {profession} in {city}. In {p2} free time, {p} likes {hobby}.",
    "Meet {name}, a {profession} from {city}. {P} has worked as a {profession} for {years} years.",
    "{name} grew up in {city} and became a {profession}. {P} says the best part of the job is the people.",
    "As a {profession}, {name} starts work early. After work {p} loves {hobby}.",
    "{name}, {age}, {profession}, {city}. Friends say {p} is kind and hard working.",
    "My neighbour {name} is a {profession}. {P} is fond of {hobby}.",
)


def _lower(part: str) -> str:
    """The part as it reads mid-sentence: first letter lowered unless it is a name or "I"."""
    if part.startswith(("{x}", "I ", "\"", "'")):
        return part
    return part[0].lower() + part[1:]


def compose(frame: str, etype: str, parts: dict[str, str]) -> str:
    """Fill one frame with parts (keys statement / question / lead / label, as the frame needs)."""
    fills = {"{E}": ENTITY_LABEL[etype]}
    for slot, key in (("S", "statement"), ("Q", "question"), ("L", "lead"), ("Label", "label")):
        if key in parts:
            fills["{" + slot + "}"] = parts[key]
            low = slot.lower() if slot != "Label" else "label"
            fills["{" + low + "}"] = _lower(parts[key])
    out = frame
    for slot, text in fills.items():
        out = out.replace(slot, text)
    return out


def combinations(attr: str, kind: str) -> list[dict]:
    """Every template of (attribute, kind) as {"text", "parts"}: the frame and parts it was built from."""
    etype = attr.split(".")[0]
    p = PARTS[attr]
    if kind == "declarative":
        choices = [{"statement": s} for s in p["statements"]]
    elif kind == "list":
        choices = [{"label": lab} for lab in p["labels"]]
    else:
        choices = [{"question": q, "lead": ld} for q in p["questions"] for ld in p["leads"]]
    out = []
    for frame in FRAMES[kind]:
        for parts in choices:
            out.append({"text": compose(frame, etype, parts), "parts": {"frame": frame, **parts}})
    return out
