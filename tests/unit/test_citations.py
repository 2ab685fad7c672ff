"""Citation parsing, validation, quote verification and lexical support (pure functions)."""

from __future__ import annotations

import pytest

from coach.citations import (
    SUPPORT_THRESHOLD,
    attach_supported_citations,
    canonical_id,
    cited_ids,
    parse_citations,
    sentence_support,
    split_sentences,
    supported_sentences,
    unit_of,
    validate_citations,
)

PASSAGES = {
    "q04": (
        "Batch normalization is a technique for improving neural network training by normalizing the inputs. "
        "It ensures that the mean output is close to 0 and the standard deviation is close to 1."
    ),
    "q09": "Overfitting happens when a model learns the training data too well, including its noise. "
    "Dropout, regularization and early stopping help avoid it.",
    "q17": "Pooling layers reduce the spatial size of the feature maps.\nConvolutional layers apply filters.",
}


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("BN helps [q04].", [("q04",)]),
        ("See [q17.2].", [("q17.2",)]),
        ("Both [q04, q09] and [q17; Q9].", [("q04", "q09"), ("q17", "q09")]),
        ("Written loosely: [Q4] [source: q09] [passage q17]", [("q04",), ("q09",), ("q17",)]),
        ("Not citations: x[0], [0, 1], [batch, channels], [Conv2D].", []),
    ],
)
def test_parse_citations(text, ids):
    assert [g.ids for g in parse_citations(text)] == ids


def test_canonical_and_unit_ids():
    assert canonical_id("Q4") == "q04"
    assert canonical_id("q17.2") == "q17.2"
    assert canonical_id("Intro-1") == "intro-1"
    assert unit_of("q17.2") == "q17"
    assert unit_of("intro-1") == "intro-1"
    assert cited_ids("a [q17.1] b [q17.3, q04] c [q04]") == ["q17", "q04"]


def test_valid_citations_kept_in_order_of_use():
    report = validate_citations("Overfitting is memorising noise [q09]. BN normalises inputs [q04].", PASSAGES)
    assert report.citations == ("q09", "q04")
    assert report.removed == ()
    assert report.has_valid_citation
    assert report.text == "Overfitting is memorising noise [q09]. BN normalises inputs [q04]."


def test_subchunk_citation_counts_for_its_question():
    report = validate_citations("Pooling shrinks feature maps [q17.2].", PASSAGES)
    assert report.citations == ("q17",)
    assert report.text == "Pooling shrinks feature maps [q17]."


def test_invented_ids_are_stripped_and_reported():
    report = validate_citations("BN normalises inputs [q04, q31]. Dropout is magic [q99]. Pooling [q17].", PASSAGES)
    assert report.citations == ("q04", "q17")
    assert report.removed == ("q31", "q99")
    assert report.text == "BN normalises inputs [q04]. Dropout is magic. Pooling [q17]."


def test_only_invented_ids_means_no_valid_citation():
    report = validate_citations("Transformers use attention [q18].", PASSAGES)
    assert not report.has_valid_citation
    assert report.removed == ("q18",)
    assert "[" not in report.text


def test_matching_quote_is_verified_after_whitespace_and_case_normalisation():
    text = 'The guide says "batch   NORMALIZATION is a technique for improving\nneural network training." [q04]'
    report = validate_citations(text, PASSAGES)
    assert [q.verified for q in report.quotes] == [True]
    assert report.text == text
    assert report.unverified_quotes == ()


def test_typographic_quotes_are_checked_too():
    report = validate_citations("It says \u201cpooling layers reduce the spatial size\u201d [q17].", PASSAGES)
    assert [q.verified for q in report.quotes] == [True]


def test_quote_not_in_cited_passage_drops_to_plain_id_citation():
    text = 'The guide says "batch normalization makes training ten times faster" [q04].'
    report = validate_citations(text, PASSAGES)
    assert report.text == "The guide says batch normalization makes training ten times faster [q04]."
    assert report.citations == ("q04",)
    (quote,) = report.unverified_quotes
    assert quote.cited == ("q04",) and not quote.verified


def test_quote_is_checked_against_the_cited_passage_only():
    # The words are in q09, but the model attributed them to q04.
    report = validate_citations('"Dropout, regularization and early stopping help avoid it" [q04]', PASSAGES)
    assert not report.quotes[0].verified
    assert '"' not in report.text


def test_citation_before_the_quote_is_its_attribution():
    report = validate_citations('[q17] says "pooling layers reduce the spatial size".', PASSAGES)
    assert report.quotes[0].cited == ("q17",) and report.quotes[0].verified


def test_unattributed_quotes_are_left_alone():
    text = 'Picture descending a "hill" to the lowest point. BN helps [q04].'
    report = validate_citations(text, PASSAGES)
    assert report.quotes == () and report.text == text


def test_quote_attributed_to_an_invented_id_is_not_verified():
    report = validate_citations('"pooling layers reduce the spatial size" [q55]', PASSAGES)
    assert report.removed == ("q55",)
    assert report.citations == ()


def test_split_sentences_keeps_trailing_citation_with_its_sentence():
    assert split_sentences("One [q04]. Two! Three [q09]\nFour") == ["One [q04].", "Two!", "Three [q09]", "Four"]


def test_sentence_support_separates_paraphrase_from_invention():
    faithful = sentence_support("Batch normalization improves neural network training by normalizing the inputs.", PASSAGES["q04"])
    invented = sentence_support("Batch normalization reduces the computational cost of large clusters.", PASSAGES["q04"])
    assert faithful is not None and invented is not None
    assert faithful >= SUPPORT_THRESHOLD > invented
    assert sentence_support("Yes.", PASSAGES["q04"]) is None  # too short to judge


def test_attach_supported_citations_cites_only_supported_sentences():
    text = "Batch normalization improves neural network training by normalizing the inputs. Paris is a lovely capital city."
    new_text, attached = attach_supported_citations(text, PASSAGES)
    assert attached == ("q04",)
    assert new_text == ("Batch normalization improves neural network training by normalizing the inputs [q04]. "
                        "Paris is a lovely capital city.")


def test_supported_sentences_judges_against_cited_passages():
    text = ("Batch normalization improves neural network training by normalizing the inputs [q04]. "
            "Pooling layers reduce the spatial size of feature maps [q04].")
    # The second sentence is true of q17 but it cites q04, which does not support it.
    assert supported_sentences(text, PASSAGES) == (1, 2)
    assert supported_sentences("No citations at all in this long sentence here.", PASSAGES) == (0, 0)
