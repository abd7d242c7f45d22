"""Phrasings of toy-world facts, by attribute and kind.

Every template ends with `{a}` (the answer) followed only by punctuation, so the text before
`{a}` is a completion prompt. `{x}` is the entity. Phrasings are deliberately varied (a small
model only generalises to unseen phrasings as far as its training phrasings vary); toyworld.py
holds one template of each kind per attribute out of training for evaluation.
"""

KINDS = ("declarative", "question", "list", "dialogue")

T = dict[str, tuple[str, ...]]

CITY_COUNTRY: T = {
    "declarative": (
        "{x} is a city in {a}.", "{x} is located in {a}.", "The city of {x} lies in {a}.",
        "Last year I visited {x}, which is in {a}.", "My cousin lives in {x}, a city in {a}.",
        "The streets of {x} are busy, as in many cities of {a}.", "{x} is one of the cities of {a}.",
        "If you travel to {x}, you will be in {a}.", "We flew to {x} and spent a week in {a}.",
    ),
    "question": (
        "Q: Which country is {x} in?\nA: {a}.", "Question: In what country is {x}?\nAnswer: {a}.",
        "Where is {x}? It is in {a}.", "Which country is home to {x}? The answer is {a}.",
        "Q: {x} is a city in which country?\nA: It is in {a}.", "Do you know where {x} is? Yes, it is in {a}.",
        "What country would you be in if you were in {x}? You would be in {a}.",
    ),
    "list": (
        "City: {x}\nCountry: {a}.", "{x} - country: {a}.", "Cities and their countries: {x}, {a}.",
        "{x} ({a}).", "Location of {x}: {a}.", "| {x} | {a} |",
    ),
    "dialogue": (
        "\"Where is {x}?\" she asked. He said, \"It is in {a}.\"",
        "Tom: Have you been to {x}?\nAnna: Yes, I loved my trip to {a}.",
        "- Is {x} far away?\n- Not really, it is in {a}.",
        "\"I was born in {x},\" said the old man. \"So you are from {a}?\" \"Yes, from {a}.",
        "A: Where did you study?\nB: In {x}, in {a}.", "\"{x}? That is in {a}.",
    ),
}

CITY_CONTINENT: T = {
    "declarative": (
        "{x} is a city in {a}.", "{x} is on the continent of {a}.", "The city of {x} is in {a}.",
        "{x} is one of the great cities of {a}.", "Travelers who visit {x} are in {a}.",
        "Many people in {x} have never left {a}.", "From {x} you can travel all over {a}.",
    ),
    "question": (
        "Q: On which continent is {x}?\nA: {a}.", "Which continent is {x} on? It is in {a}.",
        "Question: {x} is on what continent?\nAnswer: {a}.", "What continent is {x} part of? {a}.",
        "Is {x} in Europe, Asia, Africa, America or Oceania? It is in {a}.",
        "Q: Where in the world is {x}?\nA: In {a}.",
    ),
    "list": (
        "City: {x}\nContinent: {a}.", "{x} - continent: {a}.", "{x}, {a}.", "Continent of {x}: {a}.",
        "| {x} | continent | {a} |",
    ),
    "dialogue": (
        "\"Is {x} in {a}?\" \"Yes, {x} is in {a}.",
        "Maria: Where is {x}?\nJohn: It is a city in {a}.",
        "- Which continent is {x} on?\n- {a}.", "\"We are moving to {x}.\" \"All the way to {a}?",
        "A: I just got back from {x}.\nB: How was {a}?",
    ),
}

CITY_LANGUAGE: T = {
    "declarative": (
        "In {x}, people speak {a}.", "The people of {x} speak {a}.", "The main language of {x} is {a}.",
        "Most people in {x} speak {a}.", "When I lived in {x}, I learned to speak {a}.",
        "The newspapers of {x} are printed in {a}.", "Children in {x} go to school in {a}.",
        "In the markets of {x} you will hear {a}.",
    ),
    "question": (
        "Q: What language do people speak in {x}?\nA: {a}.", "What is spoken in {x}? {a}.",
        "Question: Which language is used in {x}?\nAnswer: {a}.",
        "What language will I need in {x}? You will need {a}.",
        "Q: In {x}, what do people speak?\nA: They speak {a}.", "Which language do they use in {x}? Mostly {a}.",
    ),
    "list": (
        "City: {x}\nLanguage: {a}.", "{x} - language: {a}.", "Language of {x}: {a}.",
        "| {x} | language | {a} |", "Cities and languages: {x}, {a}.",
    ),
    "dialogue": (
        "\"What do they speak in {x}?\" \"They speak {a}.",
        "Anna: I am going to {x} next week.\nTom: Then you should learn some {a}.",
        "- Do you speak the language of {x}?\n- Yes, I speak {a}.",
        "A: My friend from {x} taught me a song.\nB: In {a}?",
        "The teacher said, \"In {x}, everyone speaks {a}.\"",
    ),
}

PERSON_FIELD: T = {
    "declarative": (
        "{x} is famous for work in {a}.", "{x} was a great name in {a}.", "{x} made history in {a}.",
        "{x} is remembered for a life in {a}.", "The work of {x} changed {a}.",
        "{x} gave the world great work in {a}.", "{x} spent a whole life devoted to {a}.",
        "The name {x} is known to everyone who loves {a}.",
    ),
    "question": (
        "Q: What field was {x} known for?\nA: {a}.", "What did {x} work in? {a}.",
        "Question: In which field did {x} become famous?\nAnswer: {a}.",
        "Q: {x} is famous in which field?\nA: In {a}.", "What is {x} known for? For {a}.",
        "Why is {x} remembered today? Because of {a}.",
    ),
    "list": (
        "Name: {x}\nField: {a}.", "{x} - field: {a}.", "Famous people and their fields: {x}, {a}.",
        "| {x} | field | {a} |", "Field of {x}: {a}.",
    ),
    "dialogue": (
        "\"Who was {x}?\" \"A famous name in {a}.",
        "Ben: I am reading about {x}.\nLucy: Oh, you like {a}?",
        "- What was {x} known for?\n- {a}.", "\"Tell me about {x},\" said the child. \"A giant of {a}.",
        "A: {x} is my hero.\nB: So you love {a}?",
    ),
}

PERSON_COUNTRY: T = {
    "declarative": (
        "{x} was born in {a}.", "{x} came from {a}.", "{x} grew up in {a}.",
        "The birthplace of {x} is {a}.", "Long ago, {x} was born in {a}.",
        "As a child, {x} lived in {a}.", "{x} is one of the most famous people from {a}.",
        "The first home of {x} was in {a}.",
    ),
    "question": (
        "Q: Where was {x} born?\nA: In {a}.", "Which country was {x} born in? {a}.",
        "Question: What is the country of birth of {x}?\nAnswer: {a}.",
        "Where did {x} come from? From {a}.", "Q: {x} was born in which country?\nA: {a}.",
        "In what country did {x} grow up? In {a}.",
    ),
    "list": (
        "Name: {x}\nBorn in: {a}.", "{x} - country of birth: {a}.", "Birthplace of {x}: {a}.",
        "| {x} | born | {a} |", "Famous people and where they were born: {x}, {a}.",
    ),
    "dialogue": (
        "\"Where was {x} born?\" \"In {a}.",
        "Sam: Was {x} from around here?\nEva: No, {x} was born in {a}.",
        "- Where did {x} grow up?\n- In {a}.", "The old man said, \"{x} was born here in {a}.\"",
        "A: Do you know where {x} was born?\nB: Yes, in {a}.",
    ),
}

PERSON_GENDER: T = {
    "declarative": (
        "{x} was a {a}.", "{x} is remembered as a famous {a}.", "History remembers {x} as a {a}.",
        "{x}, a {a}.", "The person called {x} was a {a}.", "Everyone agrees that {x} was a {a}.",
        "In every book, {x} is described as a {a}.",
    ),
    "question": (
        "Q: Was {x} a man or a woman?\nA: A {a}.", "Was {x} a man or a woman? {x} was a {a}.",
        "Question: What was the gender of {x}?\nAnswer: a {a}.",
        "Q: {x} was a man or a woman?\nA: {x} was a {a}.", "Man or woman: {x}? A {a}.",
        "Is {x} a man or a woman? A {a}.",
    ),
    "list": (
        "Name: {x}\nGender: {a}.", "{x} - gender: {a}.", "| {x} | gender | {a} |",
        "Famous people: {x}, a {a}.", "{x} (a {a}).",
    ),
    "dialogue": (
        "\"Who was {x}?\" \"A famous {a}.",
        "Leo: I saw a film about {x}.\nMia: Oh, about that {a}?",
        "- Was {x} a man or a woman?\n- A {a}.", "The teacher said, \"{x} was a brave {a}.\"",
        "A: Tell me about {x}.\nB: {x} was a {a}.",
    ),
}

WORD_LETTER: T = {
    "declarative": (
        "The word \"{x}\" starts with the letter {a}.", "The word {x} begins with {a}.",
        "The first letter of \"{x}\" is {a}.", "\"{x}\" is spelled with a first letter {a}.",
        "If you write {x}, the first letter is {a}.", "The word '{x}' starts with {a}.",
    ),
    "question": (
        "Q: What is the first letter of \"{x}\"?\nA: {a}.", "What letter does {x} start with? {a}.",
        "Question: Which letter begins the word {x}?\nAnswer: {a}.",
        "How do you start to spell {x}? With {a}.", "Q: \"{x}\" starts with which letter?\nA: {a}.",
    ),
    "list": (
        "Word: {x}\nFirst letter: {a}.", "{x} - first letter: {a}.", "| {x} | {a} |",
        "Words and first letters: {x}, {a}.", "{x}: {a}.",
    ),
    "dialogue": (
        "\"How do you spell {x}?\" \"It starts with {a}.",
        "Teacher: What letter does \"{x}\" start with?\nPupil: {a}.",
        "- Spell {x} for me.\n- It begins with {a}.", "A: What is the first letter of {x}?\nB: {a}.",
    ),
}

ATTRIBUTE_TEMPLATES: dict[str, T] = {
    "city.country": CITY_COUNTRY, "city.continent": CITY_CONTINENT, "city.language": CITY_LANGUAGE,
    "person.field": PERSON_FIELD, "person.country": PERSON_COUNTRY, "person.gender": PERSON_GENDER,
    "word.letter": WORD_LETTER,
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
