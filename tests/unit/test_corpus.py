from pathlib import Path

import pytest

from coach.corpus import GUIDE_TEXT, QUESTION, SUBCHUNK, corpus_hash, load_corpus
from coach.corpus.documents import chunk_document
from coach.corpus.guide import parse_guide
from coach.errors import CorpusError


def test_guide_has_38_question_units_and_no_31(guide_chunks):
    numbers = sorted(n for c in guide_chunks if c.kind == QUESTION for n in c.numbers)
    assert numbers == [n for n in range(1, 40) if n != 31]
    units = [c for c in guide_chunks if c.kind == QUESTION]
    assert len(units) == 37  # 38 numbers, 15 and 21 are one unit
    assert "q31" not in {c.id for c in guide_chunks}


def test_duplicate_question_is_one_unit_with_an_alias(guide_chunks):
    ids = {c.id: c for c in guide_chunks}
    assert "q21" not in ids
    assert ids["q15"].aliases == (21,)
    assert "pre-training" in ids["q15"].title.lower()


def test_indented_steps_are_not_questions(guide_chunks):
    q29 = next(c for c in guide_chunks if c.id == "q29")
    assert "1. Obtain a pre-trained model." in q29.text
    assert "6. Fine-tune the model" in q29.text
    q30 = next(c for c in guide_chunks if c.id == "q30")
    assert "3. Fine-tuning with proximal policy optimization" in q30.text


def test_code_is_kept_whole_in_a_fenced_block(guide_chunks):
    q26 = next(c for c in guide_chunks if c.id == "q26")
    assert "```python\nimport tensorflow as tf def custom_loss_function(y_true, y_pred):" in q26.text
    assert "model.compile(optimizer='adam', loss=custom_loss_function)\n```" in q26.text


def test_sections_titles_and_marketing(guide_chunks):
    ids = {c.id: c for c in guide_chunks}
    assert ids["q01"].section == "Deep Learning Fundamentals"
    assert ids["q04"].section == "Training and Optimization"
    assert ids["q16"].section == "Advanced Architectures"
    assert ids["q39"].section == "Practical Applications"
    all_text = "\n".join(c.text for c in guide_chunks)
    assert "Exponent Team" not in all_text and "Exponent's" not in all_text and "Exponent is" not in all_text
    for marketing in ("Sneak peek", "Create your free account", "This interview question was asked"):
        assert marketing not in all_text
    kinds = {c.kind for c in guide_chunks}
    assert GUIDE_TEXT in kinds
    tips = [c for c in guide_chunks if c.id.startswith("tips-")]
    assert tips and "Good luck" in tips[0].text


def test_long_answers_get_subchunks_that_cover_the_answer(guide_chunks):
    q17 = [c for c in guide_chunks if c.parent == "q17"]
    assert [c.id for c in q17] == ["q17.1", "q17.2", "q17.3"]
    assert all(c.kind == SUBCHUNK and c.question == 17 for c in q17)
    unit = next(c for c in guide_chunks if c.id == "q17")
    assert "\n".join(c.text for c in q17) == unit.text
    short = [c for c in guide_chunks if c.parent == "q04"]
    assert short == []


def test_spans_point_at_the_source_lines(guide_chunks):
    lines = Path("corpus/deep-learning-interview-guide.txt").read_text(encoding="utf-8").splitlines()
    q04 = next(c for c in guide_chunks if c.id == "q04")
    assert lines[q04.span[0] - 1].startswith("4. What is batch normalization?")


def test_user_documents_chunked_by_headings(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "My Notes.md").write_text("# Dropout\n\nDropout zeroes units.\n\n## Weight decay\n\nL2 on weights.\n")
    (notes / "plain.txt").write_text("One paragraph.\n\nAnother paragraph.\n")
    chunks = load_corpus(notes)
    assert [c.id for c in chunks] == ["my-notes-md-1", "my-notes-md-2", "plain-txt-1"]
    assert chunks[0].title == "Dropout" and chunks[1].title == "Weight decay"
    assert chunks[2].text == "One paragraph.\n\nAnother paragraph."


def test_corpus_hash_changes_with_content(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("hello")
    first = corpus_hash(tmp_path)
    doc.write_text("hello again")
    assert corpus_hash(tmp_path) != first


def test_missing_or_empty_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
    with pytest.raises(CorpusError, match="No .txt"):
        load_corpus(tmp_path)


def test_parse_guide_on_a_tiny_synthetic_guide():
    text = "Title\n\nBasics\n\n1. What is X?\n\nX is a thing.\n  1. step one\n\n2. What is Y?\n\nPython\nprint('y')\n"
    chunks = parse_guide(text)
    assert [c.id for c in chunks] == ["q01", "q02"]
    assert chunks[0].text == "X is a thing.\n1. step one"
    assert chunks[1].text == "```python\nprint('y')\n```"
    assert chunks[0].section == "Basics"


def test_chunk_document_keeps_ids_stable():
    chunks = chunk_document("para one\n\npara two", "x.txt", "x-txt")
    assert [c.id for c in chunks] == ["x-txt-1"]


def test_marketing_filter_keeps_words_that_merely_contain_a_brand(guide_chunks):
    q36 = next(c for c in guide_chunks if c.id == "q36")
    assert "ExponentialLR" in q36.text
