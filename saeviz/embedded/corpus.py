"""The English prose corpus: public-domain text from registry packages, cleaned into documents.

Sources (all reachable without a hub): Debian's `bible-kjv` (the King James Bible, one document
per chapter; a few list-like books left out), Debian's `fortunes` (quotations, jokes, poems and
definitions, one document per cookie), and CPython's own `pydoc_data.topics` (technical prose).
The cleaned corpus ships xz-compressed in the assets so that a rebuild is byte-identical and
needs no apt; `--from-packages` regenerates it from the installed packages.
"""

import lzma
import re
import shutil
import subprocess
from pathlib import Path
from pydoc_data import topics

DOC_SEP = "\n\x1e\n"  # record separator: never occurs in the sources
FORTUNE_DIR = Path("/usr/share/games/fortunes")
# Fortune files that are pictures or machine text rather than prose.
FORTUNE_SKIP = {"art", "ascii-art", "debian", "linuxcookie", "perl"}
# Genealogies, ritual lists and long prophetic books: keep the archaic register from dominating.
KJV_SKIP = {"Leviticus", "Numbers", "Deuteronomy", "Joshua", "I Chronicles", "II Chronicles",
            "Isaiah", "Jeremiah", "Ezekiel"}
APT_PACKAGES = ("bible-kjv", "fortunes")


def _ascii(text: str) -> str:
    """Typographic punctuation -> ASCII, so that the byte-level tokenizer spends no merges on it."""
    table = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "--",
             "\u2026": "...", "\u00a0": " ", "\t": "    "}
    return "".join(table.get(c, c) for c in text)


def _clean_doc(text: str) -> str:
    lines = [ln.rstrip() for ln in _ascii(text).strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _letter_ratio(text: str) -> float:
    return sum(c.isalpha() or c == " " for c in text) / max(1, len(text))


def fortune_docs(root: Path = FORTUNE_DIR) -> list[str]:
    """One document per fortune cookie; drawings and code are dropped by their letter ratio."""
    docs = []
    for path in sorted(root.glob("*.u8")):
        if path.stem in FORTUNE_SKIP:
            continue
        for cookie in re.split(r"^%$", path.read_text(encoding="utf-8", errors="replace"), flags=re.M):
            doc = _clean_doc(cookie)
            if len(doc) >= 40 and _letter_ratio(doc) > 0.75:
                docs.append(doc)
    return docs


def _kjv_chapters(raw: str) -> list[str]:
    """`bible` prints "Book N" headers then verses "  k text" wrapped at 80 columns."""
    docs = []
    for block in re.split(r"\n(?=\S[^\n]* \d+\n)", raw.strip()):
        head, _, body = block.partition("\n")
        book = head.rsplit(" ", 1)[0]
        if book in KJV_SKIP:
            continue
        verses = re.split(r"\n?\s{2}\d+ ", "\n" + body)
        text = " ".join(" ".join(v.split()) for v in verses if v.strip())
        docs.append(f"{head}\n\n{text}")
    return docs


def kjv_docs() -> list[str]:
    exe = shutil.which("bible")
    if exe is None:
        raise RuntimeError("the `bible` program is missing: apt-get install bible-kjv")
    raw = subprocess.run([exe, "Genesis1:1-Revelation22:21"], capture_output=True, text=True,
                         check=True, env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"}).stdout
    return _kjv_chapters(raw)


def pydoc_docs() -> list[str]:
    return [_clean_doc(topics.topics[k]) for k in sorted(topics.topics)]


def corpus_from_packages() -> list[str]:
    """All prose documents, in a fixed order (sources concatenated, each sorted as read)."""
    missing = [p for p, ok in (("bible-kjv", shutil.which("bible")), ("fortunes", FORTUNE_DIR.is_dir())) if not ok]
    if missing:
        raise RuntimeError(f"install the Debian packages first: apt-get install {' '.join(missing)}")
    return [d for d in kjv_docs() + fortune_docs() + pydoc_docs() if d]


def write_corpus(docs: list[str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # preset fixed and no timestamps in the xz container: same input, same bytes
    path.write_bytes(lzma.compress(DOC_SEP.join(docs).encode("utf-8"), preset=9))


def read_corpus(path: Path) -> list[str]:
    return lzma.decompress(path.read_bytes()).decode("utf-8").split(DOC_SEP)
