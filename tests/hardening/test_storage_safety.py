"""Safe storage and safe defaults: no pickle in the package, the app binds 127.0.0.1 unless told
otherwise and warns when exposed without a login, answers stay out of the logs, and one user
cannot reach another user's interview sessions through the engine API."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import pytest

from coach.config import REPO_ROOT, Settings, load_settings
from coach.errors import InputError
from coach.interview.model import ACTIVE

PACKAGE = REPO_ROOT / "coach"
DISTINCTIVE = "Zyxwvut-canary-7731 batch normalization keeps activations steady"


# -- no pickle ---------------------------------------------------------------------------------------

def _sources() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20
    return files


def _unsafe_calls(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                if name.split(".")[0] in {"pickle", "cPickle", "dill", "joblib", "cloudpickle", "shelve", "marshal"}:
                    found.append(f"imports {name}")
        if isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
            if func.endswith("torch.load") or func == "load" and "weights_only" in keywords:
                if keywords.get("weights_only") != "True":
                    found.append(f"{func}() without weights_only=True")
            if re.search(r"(^|\.)(np|numpy)\.load$", func) and keywords.get("allow_pickle", "False") != "False":
                found.append(f"{func}(allow_pickle={keywords['allow_pickle']})")
            if func.endswith(("pd.read_pickle", "pandas.read_pickle", ".to_pickle")):
                found.append(func)
            if func.endswith("from_pretrained") and keywords.get("trust_remote_code") == "True":
                found.append("from_pretrained(trust_remote_code=True)")
    return found


def test_no_pickle_anywhere_in_the_package():
    problems = {}
    for path in _sources():
        calls = _unsafe_calls(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        if calls:
            problems[str(path.relative_to(REPO_ROOT))] = calls
    assert not problems, problems


def test_the_scanner_catches_what_it_looks_for():
    bad = ("import pickle\nimport joblib\ntorch.load(p)\ntorch.load(p, weights_only=False)\n"
           "np.load(p, allow_pickle=True)\ndf.to_pickle(p)\n")
    assert len(_unsafe_calls(ast.parse(bad))) == 6
    assert not _unsafe_calls(ast.parse("torch.load(p, weights_only=True)\nnp.load(p)\n"))


def test_faiss_index_is_stored_without_pickle(tmp_path):
    from coach.wiring import build_coach

    settings = load_settings(overrides={"embedding_model": "hashing", "llm_backend": "fake",
                                        "index_dir": tmp_path / "index", "data_dir": tmp_path / "data",
                                        "corpus_path": REPO_ROOT / "corpus" / "deep-learning-interview-guide.txt"},
                             environ={})
    build_coach(settings).index  # noqa: B018 - builds it
    for path in (tmp_path / "index").iterdir():
        if path.is_file():
            head = path.read_bytes()[:2]
            assert head not in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"), f"{path.name} looks like a pickle"


# -- where the app listens -----------------------------------------------------------------------------

def test_the_default_host_is_loopback():
    assert Settings().host == "127.0.0.1"
    assert load_settings(environ={}).host == "127.0.0.1"


class _FakeDemo:
    def __init__(self, seen: dict):
        self.seen = seen

    def queue(self, **kwargs):
        self.seen["queue"] = kwargs
        return self

    def launch(self, **kwargs):
        self.seen["launch"] = kwargs


@pytest.fixture
def launched(monkeypatch, tmp_path):
    """Run coach.app.server.serve with the models and gradio's launch replaced by recorders."""
    pytest.importorskip("gradio")
    import coach.app.server as server
    import coach.wiring as wiring

    seen: dict = {}

    class _Coach:
        index_status = "loaded"
        llm = type("L", (), {"name": "fake"})()

    monkeypatch.setattr(wiring, "build_coach", lambda settings: _Coach())
    monkeypatch.setattr(server, "warm_up", lambda coach: None)
    monkeypatch.setattr(server, "build_app", lambda coach, settings: _FakeDemo(seen))

    def run(**overrides):
        settings = load_settings(overrides={"data_dir": tmp_path, **overrides}, environ={})
        server.serve(settings, settings.host, settings.port)
        return seen["launch"]

    return run


def test_serve_binds_loopback_by_default_and_never_shares(launched, caplog):
    with caplog.at_level(logging.WARNING):
        kwargs = launched()
    assert kwargs["server_name"] == "127.0.0.1"
    assert kwargs["share"] is False
    assert kwargs["auth"] is None
    assert not [r for r in caplog.records if "without a login" in r.getMessage()]


def test_serve_warns_when_exposed_without_a_login(launched, caplog):
    with caplog.at_level(logging.WARNING):
        kwargs = launched(host="0.0.0.0")
    assert kwargs["server_name"] == "0.0.0.0"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("without a login" in w and "COACH_AUTH" in w for w in warnings), warnings


def test_serve_with_a_login_is_quiet_and_passes_the_credentials(launched, caplog):
    with caplog.at_level(logging.WARNING):
        kwargs = launched(host="0.0.0.0", auth="alice:s3cret")
    assert kwargs["auth"] == [("alice", "s3cret")]
    assert not [r for r in caplog.records if "without a login" in r.getMessage()]


def test_serve_cli_defaults_to_loopback():
    from typer.testing import CliRunner

    from coach.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "127.0.0.1" in result.output


def test_upload_limit_reaches_gradio(launched):
    kwargs = launched(max_upload_mb=7)
    assert kwargs["max_file_size"] == "7mb"


# -- answers stay out of the logs ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def coach(tmp_path_factory):
    from coach.wiring import build_coach

    root = tmp_path_factory.mktemp("safety")
    settings = load_settings(overrides={"embedding_model": "hashing", "llm_backend": "fake",
                                        "index_dir": root / "index", "data_dir": root / "data",
                                        "corpus_path": REPO_ROOT / "corpus" / "deep-learning-interview-guide.txt"},
                             environ={})
    return build_coach(settings)


def test_answers_never_reach_the_logs(coach, caplog, tmp_path):
    """No module logs answer text, at any level, so no setting turns it on (DEBUG included)."""
    from coach.evaluation.batch import RESULTS_FILE, grade_batch
    from coach.evaluation.batch_file import read_batch_file

    caplog.set_level(logging.DEBUG)  # every logger, every level: the strictest capture
    coach.grader.grade(4, DISTINCTIVE)
    coach.grader.grade(4, DISTINCTIVE, feedback="llm")
    coach.chat.answer(f"What is {DISTINCTIVE}?")
    turn = coach.interviews.start("logcheck", length=1)
    coach.interviews.answer(turn.session_id, DISTINCTIVE, user="logcheck")
    coach.interviews.summary(turn.session_id, user="logcheck")
    source = tmp_path / "answers.csv"
    source.write_text(f'question,answer\n4,"{DISTINCTIVE}"\n9,"{DISTINCTIVE}, again"\n', encoding="utf-8")
    grade_batch(read_batch_file(source), coach.grader, tmp_path / "out")
    results = tmp_path / "out" / RESULTS_FILE
    results.write_text(results.read_text(encoding="utf-8")[:-20], encoding="utf-8")  # torn: the resume logs it
    grade_batch(read_batch_file(source), coach.grader, tmp_path / "out")
    assert any("unreadable line" in r.getMessage() for r in caplog.records), "the batch warning did fire"
    leaked = [r.getMessage() for r in caplog.records if "canary-7731" in r.getMessage()]
    assert not leaked, leaked
    assert all("canary-7731" not in str(r.args) for r in caplog.records)


# -- users are kept apart ----------------------------------------------------------------------------------

def test_one_user_cannot_reach_another_users_session(coach):
    engine = coach.interviews
    first = engine.start("alice", length=2)
    sid = first.session_id
    engine.answer(sid, "Alice's private answer about normalization.", user="alice")
    for action in (
        lambda: engine.session(sid, user="bob"),
        lambda: engine.answer(sid, "bob writes here", user="bob"),
        lambda: engine.export(sid, "markdown", user="bob"),
        lambda: engine.export(sid, "json", user="bob"),
        lambda: engine.summary(sid, user="bob"),
        lambda: engine.end(sid, user="bob"),
        lambda: engine.resume(user="bob", session_id=sid),
        lambda: engine.session(sid, user="Alice"),  # names are exact
        lambda: engine.session(sid, user=" alice\x00"),
    ):
        with pytest.raises(InputError) as info:
            action()
        assert "private answer" not in str(info.value)
    assert sid not in {s.id for s in engine.history("bob")}
    assert sid in {s.id for s in engine.history("alice")}
    assert not engine.mastery("bob") or all(m.attempts == 0 for m in engine.mastery("bob") if hasattr(m, "attempts"))
    # Alice's session is untouched by bob's attempts.
    session = engine.session(sid, user="alice")
    assert session.status == ACTIVE and all("bob" not in (t.answer or "") for t in session.turns)


def test_a_caller_that_names_no_user_cannot_reach_a_users_session(coach):
    """Every session belongs to a named user (start needs one), so a call without a user, as a
    front end without a login might make, is refused rather than let through unchecked."""
    from coach.app import interview_tab

    engine = coach.interviews
    sid = engine.start("frank", length=2).session_id
    engine.answer(sid, "Frank's private answer about dropout.", user="frank")
    before = engine.session(sid, user="frank")
    for action in (
        lambda: engine.session(sid, user=None),
        lambda: engine.answer(sid, "anonymous writes here", user=None),
        lambda: engine.export(sid, "markdown", user=None),
        lambda: engine.summary(sid, user=None),
        lambda: engine.end(sid, user=None),
        lambda: engine.resume(user=None, session_id=sid),
        lambda: engine.session(sid, user=""),
        # The app's API handlers, as /interview_answer calls them once it has resolved the user.
        lambda: interview_tab.answer_api(coach, None, {"session_id": sid, "answer": "anonymous writes here"}),
        lambda: interview_tab.answer_api(coach, "", {"session_id": sid, "answer": "anonymous writes here"}),
        lambda: interview_tab.submit(coach, interview_tab.InterviewView(session_id=sid, pending=before.pending_turn),
                                     "anonymous writes here"),
    ):
        with pytest.raises(InputError, match="user name is needed") as info:
            action()
        assert "private answer" not in str(info.value)
    assert engine.session(sid, user="frank") == before, "the session is untouched"


def test_unknown_session_ids_do_not_reveal_whether_they_exist(coach):
    engine = coach.interviews
    sid = engine.start("carol", length=1).session_id
    with pytest.raises(InputError) as other_users:
        engine.session(sid, user="dave")
    with pytest.raises(InputError) as missing:
        engine.session("0" * len(sid), user="dave")
    assert str(other_users.value).replace(sid, "X") == str(missing.value).replace("0" * len(sid), "X")


def test_with_a_login_the_typed_name_cannot_change_the_user():
    pytest.importorskip("gradio")
    from coach.app.access import resolve_user

    assert resolve_user("alice", "bob") == "alice"
    with pytest.raises(InputError):
        resolve_user(None, "  ")
