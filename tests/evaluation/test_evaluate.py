"""The evaluation harness: question-set validation, metric arithmetic, reports and the eval command."""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from assistant.corpus.parse import Report
from assistant.evaluation import evaluate, score
from assistant.evaluation.dataset import (
    DEFAULT_SET,
    GoldSource,
    Item,
    load_questions,
    load_report,
    matches_gold,
    validate,
)
from assistant.evaluation.evaluate import add_eval_parser, run_eval_command
from assistant.evaluation.report import compare, write_report
from assistant.evaluation.score import Results, percentile, run
from assistant.types import Answer, Chunk, Citation, Passage, SourceDoc

# --- validation --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report_and_corpus() -> tuple[Report, str]:
    return load_report()


@pytest.fixture(scope="module")
def shipped() -> list[Item]:
    return load_questions(DEFAULT_SET)


def test_shipped_question_set_is_valid(shipped: list[Item], report_and_corpus: tuple[Report, str]) -> None:
    report, corpus = report_and_corpus
    assert len(shipped) == 1925
    assert {i.split for i in shipped} == {"dev", "test", "blind"}
    assert validate(shipped, report, corpus) == []


def _good() -> dict[str, Any]:
    return {
        "id": "x001",
        "split": "dev",
        "question": "How long after the February 2022 Putin–Xi summit did Russia invade Ukraine?",
        "type": "fact",
        "answerable": True,
        "history": [],
        "gold_sources": [{"authors": "Max Bergmann and Andrew Lohsen", "title": "Executive Summary"}],
        "key_facts": [["20 days", "only 20 days"]],
        "reference_answer": "20 days.",
        "evidence": "Russia’s invasion of Ukraine, which began only 20 days after the summit",
        "document_hint": "Executive Summary",
    }


def _problems(report_and_corpus: tuple[Report, str], *dicts: dict[str, Any]) -> list[str]:
    report, corpus = report_and_corpus
    items = [Item.from_dict(d, line=n) for n, d in enumerate(dicts, start=1)]
    return validate(items, report, corpus)


def test_a_good_item_passes(report_and_corpus: tuple[Report, str]) -> None:
    assert _problems(report_and_corpus, _good()) == []


def test_gold_source_may_match_by_authors_and_title_up_to_case(report_and_corpus: tuple[Report, str]) -> None:
    item = _good()
    item["gold_sources"] = [{"authors": "Max Bergmann and Andrew Lohsen", "title": "executive   SUMMARY"}]
    assert _problems(report_and_corpus, item) == []
    item["gold_sources"] = [{"authors": "", "title": "executive summary"}]
    assert _problems(report_and_corpus, item) == ["x001: gold source not in the report: *executive summary*"]


def test_non_verbatim_evidence_is_reported(report_and_corpus: tuple[Report, str]) -> None:
    item = _good()
    item["evidence"] = "Russia's invasion of Ukraine, which began only 20 days after the summit"  # straight '
    problems = _problems(report_and_corpus, item)
    assert len(problems) == 1
    assert problems[0].startswith("x001: evidence is not verbatim in the report: “Russia's invasion")


def test_unknown_gold_source_is_reported(report_and_corpus: tuple[Report, str]) -> None:
    item = _good()
    item["gold_sources"] = [
        {"authors": "Max Bergmann and Andrew Lohsen", "title": "Executive Summary"},
        {"authors": "Nobody", "title": "A Chapter That Does Not Exist"},
    ]
    assert _problems(report_and_corpus, item) == [
        "x001: gold source not in the report: Nobody, *A Chapter That Does Not Exist*"
    ]


def test_gold_source_with_wrong_authors_is_reported(report_and_corpus: tuple[Report, str]) -> None:
    item = _good()
    item["gold_sources"] = [{"authors": "Max Bergmann", "title": "Executive Summary"}]
    assert _problems(report_and_corpus, item) == [
        "x001: gold source Max Bergmann, *Executive Summary* has authors 'Max Bergmann', "
        "the report says 'Max Bergmann and Andrew Lohsen'"
    ]


def test_bad_type_is_reported(report_and_corpus: tuple[Report, str]) -> None:
    item = _good()
    item["type"] = "trivia"
    problems = _problems(report_and_corpus, item)
    assert problems == [
        "x001: type 'trivia' is not one of fact, attribution, metadata, synthesis, comparison, "
        "unanswerable, followup"
    ]


def test_duplicated_id_is_reported(report_and_corpus: tuple[Report, str]) -> None:
    first, second = _good(), _good()
    assert _problems(report_and_corpus, first, second) == ["x001: duplicate id (also line 1)"]


def test_key_fact_absent_from_report_is_reported(report_and_corpus: tuple[Report, str]) -> None:
    item = _good()
    item["key_facts"] = [["20 DAYS", "nineteen days"]]  # case-insensitive: only the second fails
    assert _problems(report_and_corpus, item) == [
        "x001: key_facts[0] alternative not in the report: 'nineteen days'"
    ]


def test_schema_problems_are_reported(report_and_corpus: tuple[Report, str]) -> None:
    missing = _good()
    del missing["evidence"]
    wrong_type = _good() | {"id": "x002", "answerable": "yes"}
    bad_split = _good() | {"id": "x003", "split": "train"}
    inconsistent = _good() | {"id": "x004", "type": "unanswerable"}
    followup = _good() | {"id": "x005", "type": "followup"}
    bad_role = _good() | {"id": "x006", "type": "followup", "history": [{"role": "bot", "content": "hi"}]}
    unanswerable = _good() | {"id": "x007", "type": "unanswerable", "answerable": False, "evidence": ""}
    problems = _problems(
        report_and_corpus, missing, wrong_type, bad_split, inconsistent, followup, bad_role, unanswerable
    )
    assert problems == [
        "x001: missing field 'evidence'",
        "x002: field 'answerable' must be true/false, not str",
        "x003: split 'train' is not one of dev, test, blind",
        "x004: answerable is true but type is 'unanswerable'",
        "x004: an unanswerable item must have no gold_sources",
        "x004: an unanswerable item must have no key_facts",
        "x005: a followup needs a non-empty history",
        "x006: history[0] has role 'bot', not one of assistant, user",
        "x007: an unanswerable item must have no gold_sources",
        "x007: an unanswerable item must have no key_facts",
    ]


def test_load_questions_reads_jsonl_and_rejects_non_json(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(_good()) + "\n\n" + json.dumps(_good() | {"id": "x002"}) + "\n")
    items = load_questions(path)
    assert [(i.id, i.line) for i in items] == [("x001", 1), ("x002", 3)]
    assert items[0].gold_sources == [GoldSource("Max Bergmann and Andrew Lohsen", "Executive Summary")]
    assert items[0].key_facts == [["20 days", "only 20 days"]]
    path.write_text(json.dumps(_good()) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"q\.jsonl:2: not valid JSON"):
        load_questions(path)


def test_identity_rule() -> None:
    gold = GoldSource("Ann Author", "A Chapter")
    assert matches_gold("A Chapter", "Someone Else", gold)  # exact title is enough
    assert matches_gold("a  chapter ", "Ann Author", gold)  # authors equal, title up to case/space
    assert not matches_gold("a chapter", "Someone Else", gold)
    assert not matches_gold("a chapter", "", GoldSource("", "A Chapter"))  # no authors: exact title only
    assert not matches_gold("A Chapter Two", "Ann Author", gold)


def test_percentile_interpolates_linearly() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


# --- metrics with a fake assistant ------------------------------------------------------------

CORPUS = "Alpha sentence one. Beta sentence two. Gamma sentence three. It’s a delta."
DOC_A = SourceDoc(doc_id="a", kind="chapter", title="A Chapter", authors=("Ann Author",))
DOC_B = SourceDoc(doc_id="b", kind="appendix", title="B Source", authors=("Bo Writer",))
OTHER = SourceDoc(doc_id="o", kind="chapter", title="Other Doc", authors=("Otto",))


def _cite(n: int, doc: SourceDoc, quote: str) -> Citation:
    return Citation(
        number=n, chunk_id=f"{doc.doc_id}/0", kind=doc.kind, authors=doc.authors_display, title=doc.title,
        original_title="", publication="", date="", url="", language="English", area="", section="",
        quote=quote, doc_id=doc.doc_id, label=doc.label(),
    )  # fmt: skip


def _passages(*docs: SourceDoc) -> list[Passage]:
    return [
        Passage(Chunk(f"{d.doc_id}/{i}", d.doc_id, "", "text", ("text",), "", i), d, 1.0 / (i + 1), i + 1)
        for i, d in enumerate(docs)
    ]


def _item(id_: str, type_: str, gold: list[GoldSource], facts: list[list[str]], **kw: Any) -> Item:
    return Item(id=id_, split="dev", question=f"question {id_}?", type=type_,
                answerable=type_ != "unanswerable", gold_sources=gold, key_facts=facts, **kw)  # fmt: skip


ITEMS = [
    _item("A", "fact", [GoldSource("Ann Author", "A Chapter")], [["alpha"], ["beta", "bravo"], ["zeta"]]),
    _item("B", "attribution", [GoldSource("", "B Source")], [["it's a delta"]]),
    _item(
        "C",
        "followup",
        [GoldSource("Ann Author", "A Chapter")],
        [["gamma"]],
        history=[{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "reply"}],
    ),
    _item("D", "unanswerable", [], []),
    _item("E", "unanswerable", [], []),
]
ANSWERS = {
    # two of three citations support it (gold doc; key fact in quote); two of three facts present
    "question A?": Answer(
        "question A?",
        "Alpha sentence one. [1] Beta sentence two. [2] Gamma sentence three. [3]",
        [
            _cite(1, DOC_A, "Alpha sentence one."),
            _cite(2, OTHER, "Beta sentence two."),
            _cite(3, OTHER, "Gamma sentence three."),
        ],
    ),
    # wrong source, quote not in the report (invalid), fact found after quote/space normalisation
    "question B?": Answer("question B?", "IT’S  a\nDelta. [1]", [_cite(1, OTHER, "Not in the report.")]),
    "question C?": Answer("question C?", "The report does not say.", abstained=True),
    "question D?": Answer("question D?", "The report does not say.", abstained=True),
    "question E?": Answer(
        "question E?", "Gamma sentence three. [1]", [_cite(1, OTHER, "Gamma sentence three.")]
    ),
}
RANKINGS = {
    "question A?": _passages(OTHER, DOC_A, OTHER),  # gold at rank 2
    "question B?": _passages(OTHER, OTHER, OTHER, OTHER, OTHER, OTHER, DOC_B, OTHER),  # gold at rank 7
    "question C?": _passages(DOC_A),  # gold at rank 1
    "question D?": _passages(OTHER),
    "question E?": _passages(OTHER),
}
LATENCY_MS = {"question A?": 100.0, "question B?": 200.0, "question C?": 300.0, "question D?": 400.0,
              "question E?": 1000.0}  # fmt: skip


class FakeAssistant:
    """Hand-made answers and rankings; each ask advances a fake clock by a set latency."""

    corpus = CORPUS

    def __init__(self) -> None:
        self.now = 0.0
        self.histories: dict[str, Any] = {}
        self.search_k: list[int] = []

    def clock(self) -> float:
        return self.now

    def ask(self, question: str, history: list[dict[str, str]] | None = None) -> Answer:
        self.histories[question] = history
        self.now += LATENCY_MS[question] / 1000
        return copy.deepcopy(ANSWERS[question])

    def search(self, query: str, k: int = 8, history: list[dict[str, str]] | None = None) -> list[Passage]:
        self.search_k.append(k)
        return RANKINGS[query][:k]


@pytest.fixture()
def results(monkeypatch: pytest.MonkeyPatch) -> Results:
    fake = FakeAssistant()
    monkeypatch.setattr(score, "time", SimpleNamespace(perf_counter=fake.clock))
    res = run(fake, ITEMS, progress=False, config="fake")
    assert fake.histories["question C?"] == ITEMS[2].history
    assert fake.histories["question A?"] is None
    assert fake.search_k == [10] * 5
    return res


def test_headline_metrics_arithmetic(results: Results) -> None:
    m, n = results.metrics, results.counts
    assert m["source_hit"] == pytest.approx(1 / 3) and n["source_hit"] == 3  # A only
    assert m["citation_precision"] == pytest.approx((2 / 3 + 0) / 2) and n["citation_precision"] == 2
    assert m["key_fact_coverage"] == pytest.approx((2 / 3 + 1 + 0) / 3) and n["key_fact_coverage"] == 3
    assert m["citation_validity"] == pytest.approx(4 / 5) and n["citation_validity"] == 5  # B invalid
    assert m["abstention_accuracy"] == pytest.approx(1 / 2) and n["abstention_accuracy"] == 2
    assert m["false_abstention_rate"] == pytest.approx(1 / 3) and n["false_abstention_rate"] == 3
    assert m["recall@1"] == pytest.approx(1 / 3)  # C
    assert m["recall@5"] == pytest.approx(2 / 3)  # A, C
    assert m["recall@10"] == pytest.approx(1.0)  # A, B, C
    assert n["recall@1"] == n["recall@5"] == n["recall@10"] == 3
    assert m["latency_median_ms"] == pytest.approx(300.0)
    assert m["latency_p95_ms"] == pytest.approx(400 + 0.8 * 600)
    assert (n["items"], n["answerable"], n["unanswerable"], n["errors"]) == (5, 3, 2, 0)


def test_per_type_metrics(results: Results) -> None:
    assert list(results.by_type) == ["fact", "attribution", "unanswerable", "followup"]
    fact = results.by_type["fact"]["metrics"]
    assert fact["source_hit"] == 1.0 and fact["citation_precision"] == pytest.approx(2 / 3)
    assert fact["key_fact_coverage"] == pytest.approx(2 / 3) and fact["abstention_accuracy"] is None
    assert results.by_type["attribution"]["metrics"]["citation_validity"] == 0.0
    unanswerable = results.by_type["unanswerable"]
    assert (
        unanswerable["metrics"]["abstention_accuracy"] == 0.5
        and unanswerable["metrics"]["source_hit"] is None
    )
    assert unanswerable["counts"]["items"] == 2
    followup = results.by_type["followup"]["metrics"]
    assert followup["false_abstention_rate"] == 1.0 and followup["citation_precision"] is None


def test_records_keep_what_failed(results: Results) -> None:
    by_id = {r.id: r for r in results.records}
    a, b, c, d, e = (by_id[k] for k in "ABCDE")
    assert a.failures == ["missing key facts: zeta"]
    assert (a.facts_found, a.facts_total, a.citation_precision) == (2, 3, pytest.approx(2 / 3))
    assert a.cited[0] == "[1] Ann Author, *A Chapter*, in CSIS, *Broader Transatlantic Security* (2022)"
    assert a.gold == ["Ann Author, *A Chapter*"] and a.retrieved == ["Other Doc", "A Chapter", "Other Doc"]
    assert a.recall == {"1": False, "5": True, "10": True}
    assert b.failures == ["no source hit", "invalid citation: quote of [1] is not verbatim in the report"]
    assert b.key_fact_coverage == 1.0 and not b.valid
    assert c.failures == [
        "wrong abstention: abstained on an answerable question",
        "no source hit",
        "missing key facts: gamma",
    ]
    assert d.failures == [] and d.source_hit is None and d.recall is None
    assert e.failures == ["wrong abstention: answered an unanswerable question"]
    assert [r.id for r in results.failed] == ["A", "B", "C", "E"]
    assert [r.latency_ms for r in results.records] == pytest.approx([100, 200, 300, 400, 1000])


def test_an_error_is_recorded_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(FakeAssistant):
        def ask(self, question: str, history: list[dict[str, str]] | None = None) -> Answer:
            raise RuntimeError("boom")

    res = run(Broken(), ITEMS[:1], progress=False)
    (record,) = res.records
    assert record.error == "RuntimeError: boom" and record.failures[0] == "error: RuntimeError: boom"
    assert res.metrics["citation_validity"] == 0.0 and res.counts["errors"] == 1
    assert res.metrics["latency_median_ms"] is None


def test_write_report_and_compare(results: Results, tmp_path: Path) -> None:
    fewer = Results(config="fewer", records=results.records[:3])  # A, B, C: validity 2/3
    paths = write_report({"fake": results, "fewer": fewer}, tmp_path / "one")
    assert sorted(paths) == ["latency.png", "per_type.png", "results.json", "summary.md"]
    for path in paths.values():
        assert path.stat().st_size > 0
    assert (tmp_path / "one" / "per_type.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    data = json.loads((tmp_path / "one" / "results.json").read_text())
    assert data["primary"] == "fake" and list(data["configs"]) == ["fake", "fewer"]
    stored = Results.from_dict(data["configs"]["fake"])
    assert stored.metrics == pytest.approx(results.metrics) and stored.records == results.records

    summary = (tmp_path / "one" / "summary.md").read_text()
    assert "| Metric | n | fake | fewer |" in summary
    assert "| Citation validity | 5 | 80.0% | 66.7% |" in summary
    assert "| Latency p95 | 5 | 880 ms |" in summary
    assert "## Per type: fake" in summary and "## Per type: fewer" in summary
    failures = summary.split("## Failures (fake)")[1]
    assert "4 of 5 items failed" in failures
    for id_ in ("A", "B", "C", "E"):
        assert f"### {id_} (" in failures
    assert "### D (" not in failures
    assert "- **Question:** question B?" in failures and "- **Gold:** *B Source*" in failures
    assert "- **History (user):** earlier" in failures

    write_report({"fewer": fewer}, tmp_path / "two")
    table = compare(tmp_path / "one" / "results.json", tmp_path / "two" / "results.json")
    assert "(fake)" in table.splitlines()[0] and "(fewer)" in table.splitlines()[0]
    assert "| Citation validity | 80.0% (n=5) | 66.7% (n=3) | -13.3 pp |" in table
    assert "| Abstention accuracy | 50.0% (n=2) | — (n=0) | — |" in table
    assert "| Latency median | 300 ms (n=5) | 200 ms (n=3) | -100.0 ms |" in table


# --- the eval command ---------------------------------------------------------------------------


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_eval_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["eval", *argv])


def test_eval_options_and_defaults() -> None:
    args = _parse()
    assert args.question_set == DEFAULT_SET and args.split is None and args.config == "hybrid,dense,bm25"
    assert args.out is None and not args.validate_only and args.compare is None
    args = _parse(
        "--split", "dev", "--limit", "3", "--ids", "q001,q002", "--types", "fact", "--config", "bm25"
    )
    assert (args.split, args.limit, args.ids, args.types, args.config) == (
        "dev",
        3,
        "q001,q002",
        "fact",
        "bm25",
    )


def test_select_subsets(shipped: list[Item]) -> None:
    assert len(evaluate.select(shipped, "dev")) == 1536
    assert len(evaluate.select(shipped, "blind")) == 160
    assert len(evaluate.select(shipped, "all")) == 1925
    assert [i.id for i in evaluate.select(shipped, "all", ids=["q002", "q001"])] == ["q001", "q002"]
    facts = evaluate.select(shipped, "dev", types=["fact"], limit=4)
    assert len(facts) == 4 and {i.type for i in facts} == {"fact"}


def test_validate_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_eval_command(_parse("--validate-only")) == 0
    assert "1925 items, no problems" in capsys.readouterr().out


def test_broken_set_stops_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(_good() | {"type": "trivia"}) + "\n" + json.dumps(_good()) + "\n")
    assert run_eval_command(_parse("--set", str(path), "--out", str(tmp_path / "out"))) == 2
    err = capsys.readouterr().err
    assert "has 2 problem(s)" in err and "type 'trivia'" in err and "duplicate id" in err
    assert not (tmp_path / "out").exists()


def test_bad_selection_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_eval_command(_parse("--ids", "q999", "--config", "hybrid,sparse")) == 2
    err = capsys.readouterr().err
    assert "unknown id(s): q999" in err and "unknown configuration(s): sparse" in err


def test_compare_command(results: Results, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_report({"fake": results}, tmp_path)
    path = str(tmp_path / "results.json")
    assert run_eval_command(_parse("--compare", path, path)) == 0
    assert "| Source hit | 33.3% (n=3) | 33.3% (n=3) | +0.0 pp |" in capsys.readouterr().out
    assert run_eval_command(_parse("--compare", path, str(tmp_path / "missing.json"))) == 2


# --- the real assistant -------------------------------------------------------------------------


@pytest.mark.slow
def test_real_assistant_over_ten_dev_items(bot: Any, shipped: list[Item], tmp_path: Path) -> None:
    items = [i for i in shipped if i.split == "dev"][:10]
    res = run(bot, items, progress=False, config="hybrid")
    paths = write_report({"hybrid": res}, tmp_path)
    for name in ("results.json", "summary.md", "per_type.png", "latency.png"):
        assert (tmp_path / name).is_file() and paths[name] == tmp_path / name
    assert res.counts["items"] == 10 and res.counts["errors"] == 0
    assert res.metrics["citation_validity"] == 1.0
    data = json.loads((tmp_path / "results.json").read_text())
    assert [r["id"] for r in data["configs"]["hybrid"]["records"]] == [i.id for i in items]


def test_run_configs_interleaves_items(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []

    class Named(FakeAssistant):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def ask(self, question: str, history: list[dict[str, str]] | None = None) -> Answer:
            calls.append((self.name, question))
            return super().ask(question, history)

    out = evaluate.run_configs({"one": Named("one"), "two": Named("two")}, ITEMS[:2], progress=False)
    assert calls == [
        ("one", "question A?"),
        ("two", "question A?"),
        ("one", "question B?"),
        ("two", "question B?"),
    ]
    assert list(out) == ["one", "two"] and out["two"].config == "two"
    assert out["one"].counts == out["two"].counts and out["one"].counts["items"] == 2
    assert out["one"].metrics["source_hit"] == out["two"].metrics["source_hit"] == 0.5


def test_each_split_is_reported_on_its_own(results: Results) -> None:
    from dataclasses import replace

    from assistant.evaluation.report import summary_markdown

    mixed = [replace(r, split="blind" if i % 2 else "dev") for i, r in enumerate(results.records)]
    text = summary_markdown({"fake": Results(config="fake", records=mixed)})
    assert "## Split: blind" in text and "## Split: dev" in text
    single = summary_markdown(
        {"fake": Results(config="fake", records=[replace(r, split="dev") for r in mixed])}
    )
    assert "## Split:" not in single


def test_answer_form_metrics(results: Results) -> None:
    from assistant.evaluation.score import clean_display

    assert clean_display("Russia sold S-400s. [1] China bought them. [2]")
    assert not clean_display("The *Broader* report. [1]") and not clean_display(
        "It ends._ <excerpt/> Next. [1]"
    )
    assert not clean_display("Russia sold S-400s. [1] He also notes the price. [2]")
    assert not clean_display("These imports served the PLA. [1]")
    assert results.metrics["answer_words_median"] is not None and 0 <= results.metrics["early_key_facts"] <= 1
