"""The parser against the real report: every chapter, source and bio, and nothing dropped."""

from __future__ import annotations

import re

import pytest

from assistant.corpus.parse import parse_citation, parse_report, parse_text
from assistant.report import AREAS
from tests.conftest import REPORT

CHAPTERS = [
    (
        "Russian Views on Sino-Russian Military-Technical Cooperation",
        "Cecilie Sendstad and Una Hakvåg",
        AREAS[0],
    ),
    ("Sino-Russian Military-Technological Cooperation", "Meia Nouwens", AREAS[0]),
    ("Russia-China Joint Military Exercises", "Paul Schwartz", AREAS[1]),
    ("Chinese Strategic Views on Joint Military Exercises with Russia", "Brian Hart and Bonny Lin", AREAS[1]),
    (
        "Sino-Russian Space Cooperation and What It Means for the United States",
        "Robert Samuel Wilson",
        AREAS[2],
    ),
    ("China-Russia Cooperation in Space", "Marc Julienne", AREAS[2]),
    (
        "The Global Hybrid War and the Role of China in Russian Strategic Thinking",
        "Katri Pynnöniemi",
        AREAS[3],
    ),
    (
        "How Does the Chinese Strategic Community Envision Cooperation with Russia on Hybrid and Gray Zone Tactics?",
        "Alessio Patalano",
        AREAS[3],
    ),
]

# (authors, English title, publication, date, language, area) as printed in the appendix
SOURCES = [
    (
        "Alexander Gabuev and Vasily Kashin",
        "Armed Friendship: How Russia and China Trade Arms",
        "Moscow: Carnegie Moscow Center",
        "November 2, 2017",
        "Russian",
        AREAS[0],
    ),
    (
        "Ruslan Polonchuk",
        "A Partnership Based on Trust So Far: Military-technical cooperation between Russia and China needs improvement",
        "Военно-промышленный Kурьер Military-Industrial Courier",
        "February 16, 2021",
        "Russian",
        AREAS[0],
    ),
    (
        "Li Shuyin",
        "Investigation and consideration of the history of China-Russia military cooperation",
        "Academic Journal of Russian Studies, no. 3",
        "2016",
        "Chinese",
        AREAS[0],
    ),
    (
        "Vladimir Vinokurov",
        "Global Cooperative Patrol: Russia & China: Strategic Cooperation or a Military-Political Alliance?",
        "Military-Industrial Courier",
        "September 30, 2019",
        "Russian",
        AREAS[1],
    ),
    (
        "Ruslan Polonchuk",
        "Russia and China’s Military Cooperation",
        "Ethnosocium and Multinational Society 1",
        "2021",
        "Russian",
        AREAS[1],
    ),
    (
        "Vasiliy Kashin and Colonel General Leonid Ivashov",
        "Joint Defense. Russian and Chinese militaries are friends against whom?",
        "RIA Novosti",
        "July 2021",
        "Russian",
        AREAS[1],
    ),
    (
        "Alexander Yermakov",
        "Exercises and Military Group Integration: How Russia and China Prepare to Defend Against NATO",
        "Eurasia Expert",
        "October 13, 2021",
        "Russian",
        AREAS[1],
    ),
    (
        "",
        "Sino-Russian joint exercise — What are the highlights of the exercise? Military experts give you an in-depth interpretation",
        "The Paper",
        "August 10, 2021",
        "Chinese",
        AREAS[1],
    ),
    (
        "Jian Feng",
        "‘Battalion Battle Group Tactics’ and Russian-Chinese Military Exercises",
        "Tanks and Armored Vehicles",
        "September 2021",
        "Chinese",
        AREAS[1],
    ),
    (
        "Yuri V. Morozov",
        "Ways to Neutralize Threats to Russia in the Framework of the Strategic Triangle of ‘Russia-USA-China’",
        "Moscow: Institute of Far Eastern Studies of the Russian Academy of Sciences",
        "2020",
        "Russian",
        AREAS[2],
    ),
    (
        "Viktoriya A. Denisenko and Nikolay A. Malchushkin",
        "Prospects for Russian-Chinese Cooperation in the Space Sector in the 2020s",
        "Blagoveshchenskii State Pedagogical University",
        "2020",
        "Russian",
        AREAS[2],
    ),
    (
        "Vasily Kashin",
        "Russia and China Answer to the Creation of Space Forces by the USA – Expert",
        "Eurasia Expert",
        "September 2020",
        "Russian",
        AREAS[2],
    ),
    (
        "He Qisong and Ye Nishan",
        "Analysis of Space Cooperation between China and Russia",
        "Russian Studies Journal, no. 4",
        "August 2021",
        "Chinese",
        AREAS[2],
    ),
    (
        "Alexandr Bartosh",
        "China and Russia Are Brought Closer by the Threat of a Hybrid War: Bear and Panda in the Service of the World",
        "Military-Industrial Courier",
        "October 22, 2019",
        "Russian",
        AREAS[3],
    ),
    (
        "Viktor Murakhovsky",
        "National Security as a Foundation for National Development",
        "interview with Andrei Ilnitsky, Homeland’s Arsenal Journal, 51, no. 1",
        "March 30, 2021",
        "Russian",
        AREAS[3],
    ),
    (
        "Alexandr Bartosh",
        "Deterrence and Coercion Strategies as Instruments of 21st Century Diplomacy",
        "Scientific Research Center for Problems of National Security",
        "April 2022",
        "Russian",
        AREAS[3],
    ),
    (
        "Alexandr Bartosh",
        "The Role of Russian Intelligence in Countering Hybrid Wars",
        "Independent Military Digest",
        "June 2017",
        "Russian",
        AREAS[3],
    ),
    (
        "Han Aiyong",
        "The New Transmutation of Geopolitical Competition among Great Powers – The Example of Hybrid Warfare and Gray Areas",
        "Teaching and Research Journal",
        "2022",
        "Chinese",
        AREAS[3],
    ),
    (
        "Wang Chensheng",
        "Reflections on the Joint Prevention of ‘Color Revolutions’ in Russia and China",
        "Eurasian Humanities Studies",
        "2022",
        "Chinese",
        AREAS[3],
    ),
    (
        "Shan Xiaoying",
        "An Analysis of the Foundation and Approach of Sino-Russian Cooperation in Cyberspace Governance",
        "Chinese Journal of Journalism and Communications",
        "2017",
        "Chinese",
        AREAS[3],
    ),
]

BIOS = [
    "Max Bergmann",
    "Andrew Lohsen",
    "Una Hakvåg",
    "Cecilie Sendstad",
    "Meia Nouwens",
    "Paul Schwartz",
    "Brian Hart",
    "Bonny Lin",
    "Robert Samuel Wilson",
    "Marc Julienne",
    "Katri Pynnöniemi",
    "Alessio Patalano",
]


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    return parse_report(REPORT)


def test_summary_and_chapters_with_authors(report) -> None:  # type: ignore[no-untyped-def]
    assert report.docs["summary"].authors_display == "Max Bergmann and Andrew Lohsen"
    chapters = [d for d in report.docs.values() if d.kind == "chapter"]
    assert [(d.title, d.authors_display, d.area) for d in chapters] == CHAPTERS
    assert [d.focus for d in chapters] == ["Russian sources", "Chinese sources"] * 4
    subtitles = {d.title: d.subtitle for d in chapters}
    assert (
        subtitles["Chinese Strategic Views on Joint Military Exercises with Russia"]
        == "Drivers, Trends, and Implications"
    )
    assert subtitles["Russia-China Joint Military Exercises"] == "The View from Russia"
    hart_lin = next(d for d in chapters if d.authors_display == "Brian Hart and Bonny Lin")
    assert hart_lin.sections == (
        "Introduction",
        "Gaining Military Experience",
        "Deterring the United States and Its Allies",
        "Shoring Up Regional Stability and Security",
        "Supporting the Broader China-Russia Relationship",
        "Implications and Potential Emerging Trends",
    )
    julienne = next(d for d in chapters if d.authors_display == "Marc Julienne")
    assert "MOON EXPLORATION: THE ILRS PROJECT" in julienne.sections


def test_every_appendix_source_with_bibliographic_fields(report) -> None:  # type: ignore[no-untyped-def]
    sources = [d for d in report.docs.values() if d.kind == "appendix"]
    got = [(d.authors_display, d.title, d.publication, d.date, d.language, d.area) for d in sources]
    assert got == SOURCES
    for doc in sources:
        assert doc.url.startswith("https://"), doc.title
        assert doc.original_title and doc.original_title != doc.title
        assert doc.byline in REPORT.read_text(encoding="utf-8")
    gabuev = sources[0]
    assert gabuev.original_title == "Вооруженная дружба: как Россия и Китай торгуют оружием"
    assert gabuev.notes == (
        "Editor’s note: The now-closed Carnegie Moscow Center is an affiliate of the Carnegie Endowment for International Peace.",
    )
    paper = next(d for d in sources if d.publication == "The Paper")
    assert paper.authors == () and paper.original_title.startswith("中俄联演")


def test_swapped_chinese_citations_are_corrected(report) -> None:  # type: ignore[no-untyped-def]
    by_title = {d.title: d for d in report.docs.values()}
    wang = by_title["Reflections on the Joint Prevention of ‘Color Revolutions’ in Russia and China"]
    shan = by_title[
        "An Analysis of the Foundation and Approach of Sino-Russian Cooperation in Cyberspace Governance"
    ]
    assert (
        wang.original_title == "关于中俄共同防范“颜色革命”的思考"
    )  # "joint prevention of color revolutions"
    assert wang.url.endswith("OYRW202201004")  # Eurasian Humanities Studies, 2022
    assert shan.original_title == "中俄协作网络空间治理的基础与路径分析"  # "cyberspace governance"
    assert shan.url.endswith("GJXW201709003")  # journalism journal, 2017
    assert any(n.startswith("Corrected") for n in wang.notes)
    assert len(report.corrections) == 1


def test_bios(report) -> None:  # type: ignore[no-untyped-def]
    bios = [d for d in report.docs.values() if d.kind == "bio"]
    assert [d.title for d in bios] == BIOS
    for bio in bios:
        (block,) = report.blocks_of(bio.doc_id)
        assert block.text.startswith(f"__{bio.title}__ is")


def test_repeated_citation_merges_into_one_source(report) -> None:  # type: ignore[no-untyped-def]
    deterrence = [d for d in report.docs.values() if d.title.startswith("Deterrence and Coercion")]
    assert len(deterrence) == 1
    citation_lines = [b for b in report.blocks_of(deterrence[0].doc_id) if b.section == "Citation"]
    assert len(citation_lines) == 2  # cited twice in the appendix, both lines kept verbatim


_STRUCTURE = re.compile(r"^(#{1,4} |> #### |!\[|---$|__[^_]+__$|[A-Z][A-Z ,:’'-]{10,}$|\|)")


def test_nothing_dropped(report) -> None:  # type: ignore[no-untyped-def]
    """Every paragraph, bullet, quotation and caption of the report is in exactly one block."""
    lines = REPORT.read_text(encoding="utf-8").split("\n")
    body_start = lines.index("---", 1) + 1
    texts = [b.text for b in report.blocks]
    content = 0
    for line in lines[body_start:]:
        line = line.strip()
        if not line or _STRUCTURE.match(line) or line.startswith("#image_caption"):
            continue
        payload = line[2:].strip() if line.startswith(("- ", "> ")) else line
        content += 1
        assert sum(payload == t for t in texts) == 1, payload[:80]
    table_rows = [line for line in lines if line.startswith("|")]
    assert any(all(row in t for row in table_rows) for t in texts)
    assert content + 1 == len(report.blocks)  # plus the one table


def test_parse_citation_fields() -> None:
    line = (
        "Vasily Kashin, “Россия и Китай ответят на создание космических войск США – эксперт,” "
        "[[Russia and China Answer to the Creation of Space Forces by the USA – Expert, Eurasia Expert, "
        "September 2020](https://eurasia.expert/x/)]."
    )
    fields = parse_citation(line)
    assert fields is not None
    assert fields["authors"] == "Vasily Kashin"
    assert fields["original_title"] == "Россия и Китай ответят на создание космических войск США – эксперт"
    assert fields["title"] == "Russia and China Answer to the Creation of Space Forces by the USA – Expert"
    assert (fields["publication"], fields["date"]) == ("Eurasia Expert", "September 2020")
    assert parse_citation("An ordinary paragraph.") is None


def test_unclosed_front_matter_is_a_clear_error() -> None:
    from assistant.errors import CorpusError

    with pytest.raises(CorpusError):
        parse_text("---\ntitle: x\n")
