"""Judges over the wire: each protocol's structured-output request body, as the provider test server receives it,
the label read back (JSON, a Converse tool call, a strictly parsed text, completion log-probabilities), verdicts
journaled once per (cell, judge), resumed without asking twice, and a model never judging its own texts when other
judges exist."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli_output

from synthgen.errors import UserError
from synthgen.generation import generate
from synthgen.store import open_store
from synthgen.store.verdicts import PANEL
from synthgen.verify import VerifySettings, decide, judges_for, parse_judges, verify_run
from synthgen.verify.parse import NoVerdict, read_verdict, strict_label

LABELS = ("negative", "positive")
CHAT = ["gpt-4o-mini", "gemini-flash", "claude-haiku"]


@pytest.fixture
def run(provider_server, tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    summary = generate(rounds=6, models=CHAT, store=url, seed=1)
    assert summary.ok == 18
    provider_server.reset()
    return url, summary.run_id


def test_strict_parse_takes_exactly_one_label():
    assert strict_label("Positive.", LABELS) == "positive"
    assert strict_label("The label is: negative", LABELS) == "negative"
    with pytest.raises(NoVerdict, match="none of the labels"):
        strict_label("It is hard to say.", LABELS)
    with pytest.raises(NoVerdict, match="several"):
        strict_label("positive or negative", LABELS)
    assert read_verdict('{"label": "positive", "confidence": 0.7}', None, LABELS).confidence == 0.7
    assert read_verdict('```json\n{"label": "negative", "confidence": 90}\n```', None, LABELS).confidence == 0.9
    tool = {"output": {"message": {"content": [{"text": "ok"}, {"toolUse": {"input": {"label": "negative"}}}]}}}
    assert read_verdict(None, tool, LABELS).label == "negative"
    with pytest.raises(NoVerdict):
        read_verdict('{"label": "neutral"}', None, LABELS)


def test_each_protocol_asks_for_structured_output_with_the_labels_as_an_enum(run, provider_server):
    url, run_id = run
    result = verify_run(run_id, store=url, judges=CHAT)
    assert result.verdicts_stored == 18 * 2  # each text by the two judges that did not write it

    openai = [r["json"] for r in provider_server.requests_for(protocol="openai-chat")]
    assert openai and all(b["temperature"] == 0 for b in openai)
    schema = openai[0]["response_format"]["json_schema"]
    assert openai[0]["response_format"]["type"] == "json_schema" and schema["strict"] is True
    assert schema["schema"]["properties"]["label"]["enum"] == list(LABELS)

    gemini = [r["json"] for r in provider_server.requests_for(protocol="gemini")][0]["generationConfig"]
    assert gemini["responseMimeType"] == "application/json" and gemini["temperature"] == 0
    assert gemini["responseSchema"]["properties"]["label"]["enum"] == list(LABELS)

    converse = [r["json"] for r in provider_server.requests_for(protocol="bedrock-converse")][0]
    tool = converse["toolConfig"]["tools"][0]["toolSpec"]
    assert tool["inputSchema"]["json"]["properties"]["label"]["enum"] == list(LABELS)
    assert converse["toolConfig"]["toolChoice"] == {"tool": {"name": "classify"}}
    assert "Answer with one label only" in converse["messages"][0]["content"][0]["text"]

    store = open_store(url, create=False)
    verdicts = store.verdicts(run_id)
    judged = [v for v in verdicts if v.judge != PANEL]
    assert len(judged) == 36 and all(v.judge != v.model for v in judged)  # nobody judged its own texts
    assert all(v.label in LABELS and v.confidence == 0.9 and v.method == "chat structured" for v in judged)
    panels = [v for v in verdicts if v.judge == PANEL]
    assert len(panels) == 18 and all(len(v.judge_model_id.split(",")) == 2 for v in panels)
    store.close()

    # verifying again asks nothing: every text has its verdicts already
    provider_server.reset()
    again = verify_run(run_id, store=url, judges=CHAT)
    assert again.verdicts_stored == 0 and provider_server.requests == []
    assert again.agreement().judged == 18


def test_failed_verdicts_are_retried_on_resume_and_never_duplicated(run, provider_server):
    url, run_id = run
    provider_server.configure(model="gpt-4o-mini", always_status=400)  # not retryable: failed at once
    first = verify_run(run_id, store=url, judges=["gpt-4o-mini"], max_attempts=1)
    assert first.verdicts_stored == 18
    store = open_store(url, create=False)
    assert {v.status for v in store.verdicts(run_id)} == {"failed"}
    store.close()
    assert first.agreement().cells["unverified"] == 18

    provider_server.configure(model="gpt-4o-mini", always_status=None)
    provider_server.reset()
    second = verify_run(run_id, store=url, judges=["gpt-4o-mini"])
    assert second.verdicts_stored == 18 and len(provider_server.requests) == 18
    store = open_store(url, create=False)
    keys = [(v.round, v.model, v.attempt, v.judge) for v in store.verdicts(run_id)]
    store.close()
    assert len(keys) == len(set(keys)) == 18 + 18  # a verdict and a panel per text, once each
    assert second.agreement().cells["unverified"] == 0


def test_a_plain_text_judge_is_parsed_strictly(run, provider_server):
    url, run_id = run
    provider_server.configure(model="meta.llama2-70b-chat-v1", answer="I would call this one positive.")
    result = verify_run(run_id, store=url, judges=["llama2"])
    assert result.agreement().per_judge["llama2"][1] == 18
    body = provider_server.requests_for(model="meta.llama2-70b-chat-v1")[0]["json"]
    assert body["temperature"] == 0 and "response_format" not in body

    provider_server.configure(model="meta.llama2-70b-chat-v1", answer="Either positive or negative.")
    run2 = generate(rounds=2, models=["gpt-4o-mini"], store=url, seed=2).run_id
    failed = verify_run(run2, store=url, judges=["llama2"])
    store = open_store(url, create=False)
    verdicts = store.verdicts(run2)
    store.close()
    assert {v.failure_kind for v in verdicts} == {"answer_missing"} and failed.agreement().judged == 0
    assert "several labels" in verdicts[0].failure_message


def test_a_completions_endpoint_judges_by_calibrated_first_token_logprobs(run, provider_server, monkeypatch):
    url, run_id = run
    monkeypatch.setenv("SYNTHGEN_LOCAL_BASE_URL", f"{provider_server.url}/v1")
    result = verify_run(run_id, store=url, judges=["local-completion"])
    assert result.verdicts_stored == 18
    bodies = [r["json"] for r in provider_server.requests_for(protocol="openai-completions")]
    assert len(bodies) == 19  # the content-free input once, then every text
    assert bodies[0]["prompt"].endswith("Sentence: N/A\nSentiment:")
    assert all(b["max_tokens"] == 1 and b["logprobs"] == 20 and b["temperature"] == 0 for b in bodies)
    assert "Sentiment: positive" in bodies[0]["prompt"]  # the task's worked examples, labelled
    store = open_store(url, create=False)
    judged = [v for v in store.verdicts(run_id) if v.judge == "local-completion"]
    store.close()
    assert all(abs(sum(v.probs.values()) - 1) < 1e-6 and v.method.startswith("first-token logprob") for v in judged)


def test_self_judging_and_the_panel():
    assert judges_for("a", ["a", "b"]) == ("b",)
    assert judges_for("a", ["a"]) == ("a",)  # alone, a model judges its own texts
    assert judges_for("a", ["a", "b"], self_judge=True) == ("a", "b")
    from synthgen.store.verdicts import Verdict

    def v(judge, label, confidence=None, probs=None):
        return Verdict("r", 0, "m", 0, judge, label=label, confidence=confidence, probs=probs)

    votes = [v("x", "positive", 0.6), v("y", "positive", 0.9), v("z", "negative", 0.8)]
    decision = decide(votes, "positive", LABELS, VerifySettings())
    assert decision.accepted and decision.label == "positive" and decision.confidence == pytest.approx(0.5)
    strict = decide(votes, "positive", LABELS, VerifySettings(min_confidence=0.6))
    assert not strict.accepted and "below 0.6" in strict.reason
    mean = [v("x", "negative", probs={"negative": 0.55, "positive": 0.45}), v("y", "positive", 0.9)]
    assert decide(mean, "negative", LABELS, VerifySettings(aggregate="mean")).label == "positive"
    assert decide([], "negative", LABELS, VerifySettings()) is None


def test_bad_verify_input_is_one_line(run, capsys):
    url, run_id = run
    with pytest.raises(UserError, match="--judges"):
        parse_judges(",")
    code, _, err = run_cli_output(["verify", "--store", url, "--judges", "no-such-model"], capsys)
    assert code == 2 and "--judges no-such-model: unknown model" in err
    code, _, err = run_cli_output(["verify", "--store", url, "--min-confidence", "2"], capsys)
    assert code == 2 and "--min-confidence 2" in err


def test_verify_prints_the_agreement_and_json(run, capsys):
    url, run_id = run
    code, out, err = run_cli_output(["verify", "--store", url, "--judges", ",".join(CHAT), "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["first_answers"]["judged"] == 18 and set(data["per_model"]) == set(CHAT)
    assert set(data["per_judge"]) == set(CHAT)
    code, out, _ = run_cli_output(["verify", "--store", url, "--judges", ",".join(CHAT)], capsys)
    assert code == 0 and "Judged label = asked label" in out and "0 verdicts stored" in out


def test_stats_report_the_agreement_and_the_diversity(run, capsys):
    from synthgen.stats import run_stats

    url, run_id = run
    assert run_stats(run_id, store=url).verification is None
    verify_run(run_id, store=url, judges=CHAT)
    stats = run_stats(run_id, store=url)
    data = stats.to_dict()
    assert data["verification"]["first_answers"]["judged"] == 18
    assert set(data["diversity"]["per_model"]) == set(CHAT) and data["diversity"]["overall"]["texts"] == 18
    code, out, _ = run_cli_output(["stats", "--store", url], capsys)
    assert code == 0 and "Diversity" in out and "verification (" in out
