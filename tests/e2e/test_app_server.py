"""`coach serve` with the real packaged models, driven through its named API endpoints
with gradio_client: a cited chat answer, a full 2-question interview, a batch evaluation."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file

pytestmark = [pytest.mark.e2e, pytest.mark.model]

BN_ANSWER = (
    "Batch normalization normalizes the inputs of each layer using the mean and standard deviation of the "
    "current batch, which stabilises and speeds up training. It has learnable scale and shift parameters, "
    "and at inference it uses moving averages computed during training."
)


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


def test_the_server_publishes_the_named_endpoints(client):
    named = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/chat", "/grade", "/interview_start", "/interview_answer", "/batch_eval"} <= named


def test_chat_gives_an_answer_whose_citations_are_retrieved_guide_passages(client, real_coach):
    answer = client.predict("Explain gradient descent.", api_name="/chat")
    passage_ids = {p["id"] for p in answer["passages"]}
    assert answer["answer"].strip()
    assert answer["grounded"] and answer["citations"]
    assert set(answer["citations"]) <= passage_ids
    assert "q03" in passage_ids  # the guide's gradient-descent question was retrieved
    for passage in answer["passages"]:
        assert passage["id"] in real_coach.index.chunks
    # The same client keeps the conversation: a follow-up is read in its context.
    follow = client.predict("Why does it matter?", api_name="/chat")
    assert follow["answer"].strip() and "gradient" in follow["query"].lower()


def test_grade_endpoint_returns_the_cli_grade_json(client, real_coach):
    served = client.predict("4", BN_ANSWER, api_name="/grade")
    local = real_coach.grader.grade(4, BN_ANSWER, reference=None, feedback="template").to_json()
    assert served == local
    assert served["score"] >= 5 and any(p["covered"] for p in served["key_points"])
    with pytest.raises(Exception, match="31"):
        client.predict("31", BN_ANSWER, api_name="/grade")  # the guide has no question 31


def test_a_full_two_question_interview_with_grades(client):
    started = client.predict({"user": "e2e-ann", "length": 2, "topics": ["Training and Optimization"]},
                             api_name="/interview_start")
    session = started["session_id"]
    assert started["question"]["topic"] == "Training and Optimization"
    turns = []
    reply = {"finished": False}
    while not reply["finished"]:
        assert len(turns) < 4, "two questions take at most two answers and two follow-ups"
        reply = client.predict({"user": "e2e-ann", "session_id": session, "answer": BN_ANSWER},
                               api_name="/interview_answer")
        grade = reply["grade"]
        assert 0 <= grade["score"] <= 10 and grade["verdict"] and grade["key_points"]
        assert all(p["citation"] for p in grade["key_points"])
        turns.append(reply)
    summary = reply["summary"]
    assert summary["session_id"] == session and len(summary["questions"]) == 2
    # Another user cannot read or answer this session through the API.
    with pytest.raises(Exception, match="No interview session"):
        client.predict({"user": "e2e-eve", "session_id": session, "answer": "mine now"}, api_name="/interview_answer")


def test_batch_evaluation_of_a_small_file(client, tmp_path):
    path = tmp_path / "answers.csv"
    path.write_text(
        "question,answer,human_score\n"
        f'4,"{BN_ANSWER}",9\n'
        '3,"Gradient descent moves the parameters against the gradient of the cost to reduce the error.",7\n'
        '1,"No idea.",0\n',
        encoding="utf-8",
    )
    report = client.predict(handle_file(str(path)), 10, api_name="/batch_eval")
    summary = report["summary"]
    assert summary["n"] == 3 and summary["n_skipped"] == 0 and summary["n_with_human"] == 3
    scores = {item["question_id"]: item["score"] for item in report["items"]}
    assert set(scores) == {"q04", "q03", "q01"}
    assert scores["q04"] > scores["q01"]  # a real answer beats "No idea."
