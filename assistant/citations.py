"""Citation enforcement: keys in, numbers out, unknown keys dropped, every quote verbatim.

Composers (extractive or generated) write text with evidence keys such as ``[e3]`` and hand
over the evidence each key stands for. ``finalize`` is the only way an ``Answer`` with
citations is made, whatever produced the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from assistant.context import locate
from assistant.corpus.chunk import split_sentences
from assistant.embed import embed
from assistant.reported import reported_source
from assistant.settings import Settings
from assistant.store.index import Index
from assistant.text import terms
from assistant.types import Answer, Chunk, Citation, Evidence, citation_fields

_KEY = re.compile(r"\[([A-Za-z0-9_:/#.-]+)\]")


def finalize(
    question: str,
    text: str,
    evidence: dict[str, Evidence],
    index: Index,
    corpus: str,
    **extra: object,
) -> Answer:
    """Resolve keys to numbered citations in order of first use; drop anything unverifiable."""
    valid: dict[str, Evidence] = {}
    for key, ev in evidence.items():
        if ev.quote and ev.quote in corpus and _known(index, ev.chunk_id):
            valid[key] = ev
    numbers: dict[str, int] = {}
    citations: list[Citation] = []

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        ev = valid.get(key)
        if ev is None:
            return ""
        if key not in numbers:
            numbers[key] = len(numbers) + 1
            chunk = index.chunk(ev.chunk_id)
            doc = index.docs[chunk.doc_id]
            fields = citation_fields(doc, chunk.section)
            paragraph, start, end = locate(corpus, chunk, ev.quote)
            reported = reported_source(index, doc, ev.quote)
            citations.append(
                Citation(
                    number=numbers[key],
                    chunk_id=ev.chunk_id,
                    quote=ev.quote,
                    paragraph=paragraph,
                    start=start,
                    end=end,
                    reports=reported.label() if reported else "",
                    reports_doc_id=reported.doc_id if reported else "",
                    **fields,
                )
            )
        return f"[{numbers[key]}]"

    resolved = _KEY.sub(replace, text)
    resolved = re.sub(r"[ \t]+([.,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", resolved)).strip()
    return Answer(question=question, text=resolved, citations=citations, **extra)  # type: ignore[arg-type]


def _known(index: Index, chunk_id: str) -> bool:
    try:
        index.chunk(chunk_id)
    except KeyError:
        return False
    return True


def check(answer: Answer, corpus: str) -> list[str]:
    """Problems with an answer's citations (empty when every marker and quote holds).

    An abstention may cite what the report does say on the topic ("It discusses the S-400 contract
    [1] but gives no sum of money for it."); those citations are held to the same rules."""
    problems = []
    numbers = {c.number for c in answer.citations}
    used = [int(n) for n in re.findall(r"\[(\d+)\]", answer.text)]
    for n in used:
        if n not in numbers:
            problems.append(f"marker [{n}] has no citation")
    first_use = list(dict.fromkeys(used))
    if first_use != list(range(1, len(answer.citations) + 1)):
        problems.append(f"citations are not numbered 1..N in order of first use: {first_use}")
    for c in answer.citations:
        if c.quote not in corpus:
            problems.append(f"quote of [{c.number}] is not verbatim in the report")
    return problems


# --- generated text: every cited claim checked against the passage it cites -------------------

NOT_ADDRESSED = re.compile(r"\b(does|do|did) not (address|answer|cover|say|mention|discuss)\b", re.I)
"""The model's way of saying the passages do not answer: kept without a citation."""
_BRACKETS = re.compile(r"\[([^\[\]\n]{1,40})\]")
_KEYS_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[[^\[\]\n]{1,40}\])+)(?:[ \t]*[.!?])?")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_NUMBERS = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass
class Grounding:
    """Generated text after the support check: what stands, and what was removed and why."""

    text: str
    """Kept sentences, each citation replaced by a key of ``evidence``."""
    evidence: dict[str, Evidence] = field(default_factory=dict)
    invented: list[str] = field(default_factory=list)
    """Keys the model wrote that named no passage it was given."""
    unsupported: list[str] = field(default_factory=list)
    """``key: claim`` for citations whose passage does not support the claim."""
    removed: list[str] = field(default_factory=list)
    """Sentences dropped because no citation of theirs stood (or they had none)."""

    def notice(self) -> str:
        """One line for ``Answer.notice`` about what was removed; empty when nothing was."""
        parts = []
        if self.removed:
            n = len(self.removed)
            parts.append(f"{n} sentence{'s' if n > 1 else ''} without a supporting passage")
        if self.unsupported:
            n = len(self.unsupported)
            parts.append(f"{n} citation{'s' if n > 1 else ''} to passages that do not support the claim")
        if self.invented:
            n = len(self.invented)
            parts.append(f"{n} citation key{'s' if n > 1 else ''} that named no passage")
        if not parts:
            return ""
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"Checked against the report: removed {listed}."


def _generated_sentences(text: str) -> list[str]:
    """Sentences of model output, each with the keys that follow it (a key written after the full
    stop belongs to the sentence before it)."""
    text = text.replace("**", "").replace("__", "")
    text = _KEYS_AFTER_STOP.sub(r"\2\1", text)
    out: list[str] = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip()
        if line:
            out += [s.strip() for s in split_sentences(line) if s.strip()]
    return out


def _claims(sentence: str) -> list[tuple[re.Match[str], str]]:
    """Each bracket group in a sentence with the claim it stands after: the words since the last
    group (the whole sentence when those are too few to check)."""
    whole = _BRACKETS.sub(" ", sentence)
    out: list[tuple[re.Match[str], str]] = []
    last_end, last_claim = 0, whole
    for m in _BRACKETS.finditer(sentence):
        words = terms(sentence[last_end : m.start()])
        claim = sentence[last_end : m.start()] if len(words) >= 3 else whole
        if not words:
            claim = last_claim  # "[e1] [e2]": both keys stand after the same words
        out.append((m, claim.strip()))
        last_end, last_claim = m.end(), claim
    return out


def supporting_quote(
    claim: str, vector: np.ndarray, chunk: Chunk, index: Index, settings: Settings
) -> str | None:
    """The passage sentence(s) that best support ``claim``, verbatim; None when the passage does not
    support it: too few of the claim's words, too little similarity, or a number it lacks."""
    wanted = set(terms(claim))
    if not wanted:
        return None
    source = chunk.embed_text.replace(",", "")
    if any(n.replace(",", "") not in source for n in _NUMBERS.findall(claim)):
        return None
    if len(wanted & set(terms(chunk.embed_text))) / len(wanted) < settings.support_min_overlap:
        return None
    ci = index.chunk_index(chunk.chunk_id)
    start = int(index.sentence_start[ci])
    sims = index.sentence_vectors[start : start + len(chunk.sentences)] @ vector
    best_sim = max(float(sims.max()) if len(sims) else -1.0, float(index.chunk_vectors[ci] @ vector))
    if best_sim < settings.support_min_similarity:
        return None
    found = [wanted & set(terms(s)) for s in chunk.sentences]
    best = max(range(len(chunk.sentences)), key=lambda j: float(sims[j]) + len(found[j]) / len(wanted))
    quote, covered = chunk.sentences[best], found[best]
    # a claim drawn from two neighbouring sentences quotes both
    gains = {j: len(found[j] - covered) for j in (best - 1, best + 1) if 0 <= j < len(chunk.sentences)}
    if gains:
        j = max(gains, key=lambda k: gains[k])
        if gains[j] >= max(1, len(wanted) // 4):
            pair = (chunk.sentences[j], quote) if j < best else (quote, chunk.sentences[j])
            joined = " ".join(pair)
            if joined in chunk.text:
                quote = joined
    return quote


def ground(text: str, passages: dict[str, Chunk], index: Index, settings: Settings) -> Grounding:
    """Check generated text against the passages it cites.

    ``passages`` maps the keys the model was given (``e1``..``eN``) to their chunks. Keys that
    name no passage are removed; each cited claim is checked against its passage (lexical overlap
    and embedding similarity) and its citation stands only if the passage supports it, quoting
    the sentence(s) that do; a sentence left with no citation that stands is removed (except a
    plain statement that the report does not address the question).
    """
    out = Grounding(text="")
    sentences = _generated_sentences(text)
    claims = [_claims(s) for s in sentences]
    to_embed = sorted({c for per in claims for _, c in per if terms(c)})
    vectors = dict(zip(to_embed, embed(settings.embedding_model, to_embed), strict=True))
    keys: dict[tuple[str, str], str] = {}
    kept: list[str] = []
    for sentence, per in zip(sentences, claims, strict=True):
        replacement: dict[int, str] = {}
        for m, claim in per:
            stood = []
            for token in (t.strip().lower() for t in re.split(r"[\s,;]+", m.group(1))):
                if not token:
                    continue
                chunk = passages.get(token)
                if chunk is None:
                    out.invented.append(token)
                    continue
                vector = vectors.get(claim)
                quote = None if vector is None else supporting_quote(claim, vector, chunk, index, settings)
                if quote is None:
                    out.unsupported.append(f"{token}: {claim}")
                    continue
                key = keys.setdefault((chunk.chunk_id, quote), f"g{len(keys) + 1}")
                out.evidence[key] = Evidence(chunk.chunk_id, quote)
                if f"[{key}]" not in stood:
                    stood.append(f"[{key}]")
            replacement[m.start()] = " ".join(stood)
        if any(replacement.values()):
            kept.append(_BRACKETS.sub(lambda m, r=replacement: r[m.start()], sentence))
        elif not per and NOT_ADDRESSED.search(sentence):
            kept.append(sentence)
        elif terms(_BRACKETS.sub(" ", sentence)):
            out.removed.append(_BRACKETS.sub("", sentence).strip())
    out.text = " ".join(kept)
    return out
