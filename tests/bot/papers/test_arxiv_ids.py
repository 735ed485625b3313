"""Specification of how the bot reads arXiv identifiers typed or pasted by people."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import UserError
from bot.papers.arxiv_ids import (
    OLD_STYLE_ARCHIVES,
    ArxivId,
    InvalidArxivId,
    find_arxiv_ids,
    parse_arxiv_id,
)

# --------------------------------------------------------------------------- accepted forms

ACCEPTED: list[tuple[str, str, int | None]] = [
    # new style, 4-digit numbers (0704..1412) and 5-digit numbers (1501 on)
    ("1606.04474", "1606.04474", None),
    ("2006.09661v3", "2006.09661", 3),
    ("0704.0001", "0704.0001", None),
    ("1412.9999v1", "1412.9999", 1),
    ("1501.00001", "1501.00001", None),
    ("2412.19437v12", "2412.19437", 12),
    # old style, with and without subject class; the subject class is dropped
    ("hep-th/9901001", "hep-th/9901001", None),
    ("math.GT/0309136v2", "math/0309136", 2),
    ("math.GT/0309136", "math/0309136", None),
    ("cond-mat/0412498", "cond-mat/0412498", None),
    ("cond-mat.str-el/0412498v1", "cond-mat/0412498", 1),
    ("astro-ph/0601001", "astro-ph/0601001", None),
    ("hep-ex/0406020v1", "hep-ex/0406020", 1),
    ("hep-th/9108001", "hep-th/9108001", None),  # the first month of arXiv
    ("math/0703999", "math/0703999", None),  # the last month of old-style ids
    ("cs.AI/9308101", "cs/9308101", None),
    ("physics.acc-ph/0601001", "physics/0601001", None),
    # arXiv: prefix, any case, optional space
    ("arXiv:1606.04474", "1606.04474", None),
    ("ARXIV: hep-th/9901001", "hep-th/9901001", None),
    ("arxiv:math.GT/0309136v2", "math/0309136", 2),
    # case and whitespace
    ("  ARXIV:1606.04474V2 ", "1606.04474", 2),
    ("HEP-TH/9901001", "hep-th/9901001", None),
    ("\t2006.09661v3\n", "2006.09661", 3),
    # abs / pdf / html URLs on the three hosts, with and without scheme
    ("https://arxiv.org/abs/1606.04474", "1606.04474", None),
    ("http://arxiv.org/abs/1606.04474v2", "1606.04474", 2),
    ("arxiv.org/abs/1606.04474", "1606.04474", None),
    ("www.arxiv.org/abs/1606.04474", "1606.04474", None),
    ("https://www.arxiv.org/pdf/1606.04474", "1606.04474", None),
    ("https://arxiv.org/pdf/1606.04474v2.pdf", "1606.04474", 2),
    ("https://arxiv.org/pdf/1606.04474.pdf", "1606.04474", None),
    ("http://export.arxiv.org/abs/1606.04474", "1606.04474", None),
    ("https://arxiv.org/html/2006.09661v3", "2006.09661", 3),
    ("https://arxiv.org/html/2006.09661v3/", "2006.09661", 3),
    ("https://arxiv.org/html/2006.09661v3/index.html#S2", "2006.09661", 3),
    ("https://arxiv.org/abs/1606.04474?context=cs", "1606.04474", None),
    ("https://arxiv.org/abs/1606.04474v1#S2", "1606.04474", 1),
    ("HTTPS://ARXIV.ORG/ABS/1606.04474V1", "1606.04474", 1),
    ("https://arxiv.org/abs/hep-th/9901001v2", "hep-th/9901001", 2),
    ("https://arxiv.org/pdf/math.GT/0309136v2.pdf", "math/0309136", 2),
    ("<https://arxiv.org/abs/1606.04474>", "1606.04474", None),  # Discord's no-embed form
    # the arXiv DOI
    ("10.48550/arXiv.1606.04474", "1606.04474", None),
    ("10.48550/ARXIV.1606.04474", "1606.04474", None),
    ("https://doi.org/10.48550/arXiv.1606.04474", "1606.04474", None),
    ("doi:10.48550/arXiv.1606.04474", "1606.04474", None),
    ("DOI: 10.48550/arxiv.hep-th/0207249", "hep-th/0207249", None),
]


@pytest.mark.parametrize(("text", "base", "version"), ACCEPTED)
def test_accepted_forms_parse_to_the_canonical_id(
    text: str, base: str, version: int | None
) -> None:
    assert parse_arxiv_id(text) == ArxivId(base, version)


def test_str_adds_the_version_only_when_given() -> None:
    assert str(ArxivId("2006.09661", 3)) == "2006.09661v3"
    assert str(ArxivId("2006.09661", None)) == "2006.09661"
    assert str(parse_arxiv_id("math.GT/0309136v2")) == "math/0309136v2"


def test_abs_url_points_at_the_latest_version() -> None:
    assert parse_arxiv_id("2006.09661v3").abs_url == "https://arxiv.org/abs/2006.09661"
    assert parse_arxiv_id("HEP-TH/9901001v2").abs_url == "https://arxiv.org/abs/hep-th/9901001"


def test_is_old_style() -> None:
    assert parse_arxiv_id("hep-th/9901001").is_old_style
    assert not parse_arxiv_id("1606.04474").is_old_style


def test_ids_are_hashable_values() -> None:
    assert len({parse_arxiv_id("arXiv:1606.04474"), parse_arxiv_id("1606.04474")}) == 1
    with pytest.raises(AttributeError):
        parse_arxiv_id("1606.04474").version = 2  # type: ignore[misc]


# --------------------------------------------------------------------------- rejected forms

REJECTED: list[str] = [
    "",
    "   ",
    "abc",
    "1606.4474",  # too few digits
    "1606.044745",  # too many digits
    "1613.04474",  # month 13
    "1600.04474",  # month 00
    "0612.0001",  # new style did not exist before April 2007
    "0703.0001",
    "1501.0001",  # 4 digits after 2014
    "1412.00001",  # 5 digits before 2015
    "0808.05394",
    "1606.00000",  # sequence numbers start at 1
    "hep-th/9901000",
    "1606.04474v0",  # versions start at v1
    "1606.04474v",
    "1606.04474v2x",
    "1606.04474 v2",
    "1606.04474/extra",  # paths only make sense after a URL
    "foo/9901001",  # unknown archive
    "stat/0601001",  # stat has no old-style ids
    "hep-th/9107001",  # before arXiv existed
    "math/0704001",  # old style ended in March 2007
    "hep-th/9913001",  # month 13
    "hep-th/990100",  # old style needs 7 digits
    "arXiv:",
    "arXiv 1606.04474",
    "arXiv:abc",
    "https://example.com/abs/1606.04474",
    "https://notarxiv.org/abs/1606.04474",
    "https://arxiv.org/1606.04474",
    "https://arxiv.org/list/cs.LG/recent",
    "https://arxiv.org/abs/",
    "ftp://arxiv.org/abs/1606.04474",
    "10.1234/arXiv.1606.04474",  # not arXiv's DOI prefix
    "1606.04474 2006.09661",  # two ids
    "١٦٠٦.٠٤٤٧٤",  # non-ASCII digits
    "1606.04474" + " " * 600,  # over-long input is refused up front
    "x" * 10_000,
]


@pytest.mark.parametrize("text", REJECTED)
def test_rejected_inputs_raise_with_one_helpful_line(text: str) -> None:
    with pytest.raises(InvalidArxivId) as caught:
        parse_arxiv_id(text)
    message = str(caught.value)
    assert "1606.04474" in message  # shows a valid example
    assert "\n" not in message and "\r" not in message
    assert len(message) < 250


def test_invalid_id_is_a_user_error_that_quotes_the_input() -> None:
    with pytest.raises(UserError) as caught:
        parse_arxiv_id("  foo  ")
    assert str(caught.value) == (
        "'foo' is not an arXiv id. Try one like 1606.04474, 2006.09661v3, "
        "hep-th/9901001 or https://arxiv.org/abs/1606.04474."
    )


def test_empty_input_is_called_empty() -> None:
    with pytest.raises(InvalidArxivId, match=r"^No arXiv id given\. Try one like"):
        parse_arxiv_id("  ")


def test_echoed_input_is_shortened() -> None:
    with pytest.raises(InvalidArxivId) as caught:
        parse_arxiv_id("not an id " * 20)
    message = str(caught.value)
    assert "…" in message
    assert message.count("not an id") <= 7


def test_echoed_input_cannot_mention_anyone() -> None:
    with pytest.raises(InvalidArxivId) as caught:
        parse_arxiv_id("@everyone look")
    assert "@everyone" not in str(caught.value)


# --------------------------------------------------------------------------- property tests


def _year_months(first: int, last: int) -> st.SearchStrategy[int]:
    """Months as YYYYMM integers between first and last inclusive."""

    def to_yyyymm(index: int) -> int:
        return (index // 12) * 100 + index % 12 + 1

    def to_index(yyyymm: int) -> int:
        return (yyyymm // 100) * 12 + yyyymm % 100 - 1

    return st.integers(to_index(first), to_index(last)).map(to_yyyymm)


versions = st.none() | st.integers(min_value=1, max_value=120)


@dataclass(frozen=True)
class Case:
    """An id as someone might write it, and the canonical id it stands for."""

    written: str
    expected: ArxivId


@st.composite
def new_style_cases(draw: st.DrawFn) -> Case:
    yyyymm = draw(_year_months(200704, 209912))
    yymm = f"{yyyymm % 10000:04d}"
    digits = 4 if yyyymm <= 201412 else 5
    number = f"{draw(st.integers(1, 10**digits - 1)):0{digits}d}"
    version = draw(versions)
    suffix = "" if version is None else f"v{version}"
    return Case(f"{yymm}.{number}{suffix}", ArxivId(f"{yymm}.{number}", version))


UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER = UPPER.lower()
subject_classes = st.text(alphabet=UPPER, min_size=2, max_size=2) | st.sampled_from(
    ["str-el", "mes-hall", "stat-mech", "acc-ph", "chem-ph", "data-an"]
)


@st.composite
def old_style_cases(draw: st.DrawFn) -> Case:
    archive = draw(st.sampled_from(sorted(OLD_STYLE_ARCHIVES)))
    subject = draw(st.none() | subject_classes)
    yyyymm = draw(_year_months(199108, 200703))
    number = f"{yyyymm % 10000:04d}{draw(st.integers(1, 999)):03d}"
    version = draw(versions)
    suffix = "" if version is None else f"v{version}"
    prefix = archive if subject is None else f"{archive}.{subject}"
    return Case(f"{prefix}/{number}{suffix}", ArxivId(f"{archive}/{number}", version))


any_cases = new_style_cases() | old_style_cases()

DECORATIONS: list[str] = [
    "{}",
    "arXiv:{}",
    "arxiv: {}",
    "ARXIV:  {}",
    "https://arxiv.org/abs/{}",
    "http://arxiv.org/abs/{}",
    "arxiv.org/abs/{}",
    "https://www.arxiv.org/abs/{}?context=cs",
    "http://export.arxiv.org/abs/{}#S2",
    "https://arxiv.org/pdf/{}",
    "https://arxiv.org/pdf/{}.pdf",
    "www.arxiv.org/pdf/{}.pdf?download=1",
    "https://arxiv.org/html/{}",
    "https://arxiv.org/html/{}/",
    "https://arxiv.org/html/{}/index.html#S3.SS1",
    "10.48550/arXiv.{}",
    "https://doi.org/10.48550/arXiv.{}",
    "doi:10.48550/arXiv.{}",
    "<https://arxiv.org/abs/{}>",
]

CASE_CHANGES: list[Callable[[str], str]] = [str, str.upper, str.lower, str.swapcase]
padding = st.text(alphabet=" \t\r\n", max_size=3)


@settings(max_examples=400)
@given(
    case=any_cases,
    decoration=st.sampled_from(DECORATIONS),
    change_case=st.sampled_from(CASE_CHANGES),
    before=padding,
    after=padding,
)
def test_decorated_ids_parse_to_the_canonical_id(
    case: Case,
    decoration: str,
    change_case: Callable[[str], str],
    before: str,
    after: str,
) -> None:
    text = before + change_case(decoration.format(case.written)) + after
    assert parse_arxiv_id(text) == case.expected


@settings(max_examples=300)
@given(case=any_cases)
def test_canonical_form_round_trips(case: Case) -> None:
    parsed = parse_arxiv_id(case.written)
    assert parse_arxiv_id(str(parsed)) == parsed
    assert str(parse_arxiv_id(str(case.expected))) == str(case.expected)
    assert parse_arxiv_id(parsed.abs_url) == ArxivId(parsed.base, None)
    assert parsed.is_old_style == ("/" in case.written)


@st.composite
def wrong_era_new_style(draw: st.DrawFn) -> str:
    """Well-formed-looking new-style ids that break a date or digit-count rule."""
    kind = draw(st.sampled_from(["month", "too_early", "digits"]))
    year = draw(st.integers(0, 99))
    month = draw(st.integers(1, 12))
    if kind == "month":
        month = draw(st.sampled_from([0, *range(13, 100)]))
    elif kind == "too_early":
        year, month = draw(
            st.sampled_from([(y, m) for y in range(8) for m in range(1, 13) if y * 100 + m < 704])
        )
    yyyymm = 200000 + year * 100 + month
    digits = 4 if yyyymm <= 201412 else 5
    if kind == "digits":
        digits = 9 - digits  # the other era's width
    number = draw(st.integers(1, 10**digits - 1))
    return f"{year:02d}{month:02d}.{number:0{digits}d}"


@settings(max_examples=300)
@given(text=wrong_era_new_style())
def test_ids_breaking_the_scheme_rules_are_rejected(text: str) -> None:
    with pytest.raises(InvalidArxivId):
        parse_arxiv_id(text)


@settings(max_examples=300)
@given(
    case=old_style_cases(),
    archive=st.text(alphabet=LOWER + "-", min_size=1, max_size=10)
    | st.sampled_from(sorted(OLD_STYLE_ARCHIVES)),
)
def test_old_style_ids_need_a_real_archive(case: Case, archive: str) -> None:
    number = case.expected.base.split("/")[1]
    text = f"{archive}/{number}"
    if archive in OLD_STYLE_ARCHIVES:
        assert parse_arxiv_id(text).base == text
    else:
        with pytest.raises(InvalidArxivId):
            parse_arxiv_id(text)


@settings(max_examples=500)
@given(text=st.text())
def test_any_text_parses_or_raises_invalid_arxiv_id(text: str) -> None:
    try:
        parsed = parse_arxiv_id(text)
    except InvalidArxivId as error:
        assert "\n" not in str(error)
        assert "1606.04474" in str(error)
    else:
        assert parse_arxiv_id(str(parsed)) == parsed


@settings(max_examples=300)
@given(text=st.text(alphabet=st.characters(codec="ascii"), max_size=80))
def test_ascii_text_parses_or_raises_invalid_arxiv_id(text: str) -> None:
    # ASCII hits the interesting characters (digits, ".", "/", ":", "v") far more often.
    try:
        parsed = parse_arxiv_id(text)
    except InvalidArxivId:
        return
    assert parse_arxiv_id(str(parsed)) == parsed


# Noise without ":" or "/" cannot contain a URL, DOI or arXiv: mention by itself.
noise = st.text(alphabet=st.characters(exclude_characters=":/"), max_size=40)


@settings(max_examples=300)
@given(
    case=any_cases,
    decoration=st.sampled_from([d for d in DECORATIONS if d != "{}"]),
    before=noise,
    after=noise,
)
def test_linked_ids_are_found_in_any_message(
    case: Case, decoration: str, before: str, after: str
) -> None:
    message = f"{before} {decoration.format(case.written)} {after}"
    assert find_arxiv_ids(message) == [case.expected]


@settings(max_examples=200)
@given(case=any_cases, before=noise, after=noise)
def test_bare_ids_in_prose_are_not_links(case: Case, before: str, after: str) -> None:
    assert find_arxiv_ids(f"{before} {case.written} {after}") == []


@settings(max_examples=500)
@given(text=st.text())
def test_find_never_raises_and_returns_distinct_papers(text: str) -> None:
    found = find_arxiv_ids(text)
    assert len({paper.base for paper in found}) == len(found)
    assert all(parse_arxiv_id(str(paper)) == paper for paper in found)


# --------------------------------------------------------------------------- chat messages


def test_finds_links_in_order_of_first_appearance_without_duplicates() -> None:
    message = (
        "Has anyone read https://arxiv.org/abs/2006.09661v3 ? It builds on "
        "[this one](https://arxiv.org/pdf/1606.04474.pdf) and on arXiv:hep-th/9901001.\n"
        "The v1 is at https://arxiv.org/abs/2006.09661v1 and the html "
        "<https://arxiv.org/html/2006.09661v3/#S2> has nicer maths."
    )
    assert find_arxiv_ids(message) == [
        ArxivId("2006.09661", 3),
        ArxivId("1606.04474", None),
        ArxivId("hep-th/9901001", None),
    ]


def test_ignores_bare_numbers_and_other_sites() -> None:
    message = (
        "Upgraded to 1606.04474 and it costs 2006.09661 dollars; mirror at "
        "https://example.com/abs/1501.00001 and https://notarxiv.org/abs/1502.00002, "
        "but the real one is ARXIV: 1503.00003v2."
    )
    assert find_arxiv_ids(message) == [ArxivId("1503.00003", 2)]


def test_finds_dois_and_old_style_urls() -> None:
    message = (
        "Classic: http://export.arxiv.org/abs/math.GT/0309136v2, cited as "
        "https://doi.org/10.48550/arXiv.2412.19437 in the survey. Same as "
        "arxiv.org/abs/math/0309136."
    )
    assert find_arxiv_ids(message) == [ArxivId("math/0309136", 2), ArxivId("2412.19437", None)]


def test_skips_invalid_links_without_raising() -> None:
    message = (
        "Broken: https://arxiv.org/abs/1613.04474 arXiv:1412.00001 "
        "https://arxiv.org/abs/foo/9901001 https://arxiv.org/abs/1606.04474v2abc "
        "arXiv:1606.044745; good: arXiv:0704.0001"
    )
    assert find_arxiv_ids(message) == [ArxivId("0704.0001", None)]


def test_message_without_links_finds_nothing() -> None:
    assert find_arxiv_ids("") == []
    assert find_arxiv_ids("no papers here, just arxiv and 1606.04474") == []
