import pytest

from synthgen.adapters import build_body
from synthgen.catalog import deep_merge, load_catalog
from synthgen.errors import UserError

SEED_MODELS = {
    "j2-ultra": ("bedrock-invoke", "ai21.j2-ultra-v1"),
    "titan-express": ("bedrock-invoke", "amazon.titan-text-express-v1"),
    "claude-v2": ("bedrock-invoke", "anthropic.claude-v2"),
    "llama2": ("bedrock-invoke", "meta.llama2-70b-chat-v1"),
    "gemini-pro": ("gemini", "gemini-pro"),
    "gpt-4": ("openai-chat", "gpt-4"),
}


def test_shipped_catalog_has_the_six_seed_models_and_current_ones():
    catalog = load_catalog()
    for alias, (protocol, model_id) in SEED_MODELS.items():
        assert (catalog[alias].protocol, catalog[alias].model_id) == (protocol, model_id)
    protocols = {spec.protocol for spec in catalog.values()}
    assert {"bedrock-converse", "openai-chat", "gemini"} <= protocols
    converse = {
        s.model_id.split(".")[-2] if s.model_id.startswith("us.") else s.model_id.split(".")[0]
        for s in catalog.values()
        if s.protocol == "bedrock-converse"
    }
    assert {"anthropic", "meta", "amazon"} <= converse
    assert catalog["local"].key_optional and catalog["local"].base_url_env == "SYNTHGEN_LOCAL_BASE_URL"


def test_seed_bodies_follow_the_providers_schemas():
    catalog = load_catalog()
    assert build_body(catalog["j2-ultra"], "P") == {
        "prompt": "P",
        "maxTokens": 200,
        "temperature": 0.1,
        "topP": 1,
        "stopSequences": [],
        "countPenalty": {"scale": 0},
        "presencePenalty": {"scale": 0.8},
        "frequencyPenalty": {"scale": 0.1},
    }
    assert build_body(catalog["titan-express"], "P") == {
        "inputText": "P",
        "textGenerationConfig": {"maxTokenCount": 2048, "stopSequences": ["User:"], "temperature": 0.5, "topP": 0.9},
    }
    assert build_body(catalog["claude-v2"], "P") == {
        "prompt": "\n\nHuman: P\n\nAssistant:",
        "max_tokens_to_sample": 200,
        "temperature": 0.5,
        "stop_sequences": ["\n\nHuman:"],
    }
    assert build_body(catalog["llama2"], "P") == {
        "prompt": "[INST] P [/INST]",
        "temperature": 0.5,
        "top_p": 0.9,
        "max_gen_len": 200,
    }
    gemini = build_body(catalog["gemini-pro"], "P")
    assert gemini["contents"] == [{"parts": [{"text": "P"}]}]  # SPEC §1, exactly: no "role"
    assert gemini["generationConfig"] == {
        "stopSequences": ["Title"],
        "temperature": 1.0,
        "maxOutputTokens": 800,
        "topP": 0.8,
        "topK": 10,
    }
    assert gemini["safetySettings"] == [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH"}]


def test_parameters_deep_merge_over_defaults_keeping_nested_keys():
    catalog = load_catalog()
    body = build_body(catalog["titan-express"], "P", {"temperature": 0.9})  # params live in textGenerationConfig
    assert body["textGenerationConfig"] == {
        "maxTokenCount": 2048,
        "stopSequences": ["User:"],
        "temperature": 0.9,
        "topP": 0.9,
    }
    body = build_body(catalog["gemini-pro"], "P", {"generationConfig": {"topK": 3}})
    assert body["generationConfig"]["topK"] == 3 and body["generationConfig"]["maxOutputTokens"] == 800
    body = build_body(catalog["j2-ultra"], "P", {"presencePenalty": {"applyToNumbers": True}})
    assert body["presencePenalty"] == {"scale": 0.8, "applyToNumbers": True}
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}


def test_prompt_with_braces_is_inserted_verbatim():
    body = build_body(load_catalog()["claude-v2"], "say {hello} and {prompt}")
    assert body["prompt"] == "\n\nHuman: say {hello} and {prompt}\n\nAssistant:"


def test_user_table_overrides_a_shipped_entry_by_alias_and_can_extend_one(tmp_path):
    (tmp_path / "mine.toml").write_text(
        '[models.gpt-4]\nprotocol = "openai-chat"\nmodel_id = "gpt-4-turbo"\nparams = { temperature = 0.1 }\n'
        '[models.my-haiku]\nbase = "claude-haiku"\nmodel_id = "anthropic.claude-3-haiku-20240307-v1:0"\n'
    )
    catalog = load_catalog(tmp_path)
    assert catalog["gpt-4"].model_id == "gpt-4-turbo"
    assert catalog["gpt-4"].params == {"temperature": 0.1}
    assert catalog["gpt-4"].source.endswith("mine.toml")
    assert catalog["my-haiku"].protocol == "bedrock-converse"
    assert catalog["my-haiku"].params == catalog["claude-haiku"].params
    assert catalog["j2-ultra"].model_id == "ai21.j2-ultra-v1"


def test_catalog_env_var_names_the_user_directory(tmp_path, monkeypatch):
    (tmp_path / "x.toml").write_text('[models.extra]\nprotocol = "openai-chat"\nmodel_id = "m"\n')
    monkeypatch.setenv("SYNTHGEN_CATALOG", str(tmp_path))
    assert "extra" in load_catalog()


@pytest.mark.parametrize(
    "content, message",
    [
        ("[models.x\nprotocol=1", "not valid TOML"),
        ('[models.x]\nprotocol = "carrier-pigeon"\nmodel_id = "m"\n', "protocol"),
        ('[models.x]\nprotocol = "openai-chat"\n', "model_id is missing"),
        ('[models.x]\nprotocol = "openai-chat"\nmodel_id = "m"\ntemprature = 1\n', "unknown field"),
        ('[models.x]\nbase = "nope"\nmodel_id = "m"\n', "unknown model 'nope'"),
        ("[modles.x]\n", "unknown top-level key"),
        ("models = 3\n", "`models` must be a table"),
        ("protocols = 3\n", "`protocols` must be a table"),
        ("[protocols]\nopenai-chat = 3\n", "protocols.openai-chat must be a table"),
        ("[protocols.carrier-pigeon]\nmax_concurrency = 2\n", "[protocols.carrier-pigeon] is not a protocol"),
        ('[protocols.openai-chat]\nmax_concurrency = "8"\n', "protocols.openai-chat.max_concurrency is '8'"),
        (
            '[models.x]\nprotocol = "openai-chat"\nmodel_id = "m"\nprompt_format = 3\n',
            "models.x.prompt_format is 3; it must be a string",
        ),
        ('[models.x]\nbase = ["gpt-4"]\nmodel_id = "m"\n', "models.x.base is ['gpt-4']; it must be a string"),
        (
            '[models.x]\nprotocol = "openai-chat"\nmodel_id = "m"\napi_key_env = 3\n',
            "models.x.api_key_env is 3; it must be a string",
        ),
        (
            '[models.x]\nprotocol = "openai-chat"\nmodel_id = "m"\nsystem = 3\n',
            "models.x.system is 3; it must be a string",
        ),
        (
            '[models.x]\nprotocol = "openai-chat"\nmodel_id = "m"\nusage_input = 3\n',
            "models.x.usage_input is 3; it must be a string",
        ),
        (
            '[models.x]\nprotocol = "openai-chat"\nmodel_id = "m"\nmax_concurrency = true\n',
            "models.x.max_concurrency is True; it must be a positive integer",
        ),
        (
            '[models.x]\nprotocol = "openai-chat"\nmodel_id = "m"\nmax_concurrency = 0\n',
            "models.x.max_concurrency is 0; it must be a positive integer",
        ),
        (
            '[models.x]\nprotocol = "openai-chat"\nmodel_id = "m"\nkey_optional = "yes"\n',
            "models.x.key_optional is 'yes'; it must be true or false",
        ),
        (
            '[models.x]\nprotocol = "openai-chat"\nmodel_id = "m"\nparams = 3\n',
            "models.x.params is 3; it must be a table",
        ),
        (
            '[models.x]\nprotocol = "openai-chat"\nmodel_id = "m"\nprice_input_per_1m = -1\n',
            "models.x.price_input_per_1m is -1; it must be a number",
        ),
        ('[models.x]\nprotocol = 3\nmodel_id = "m"\n', "models.x.protocol is 3; it must be a string"),
    ],
)
def test_malformed_tables_name_the_file_and_field(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(UserError) as err:
        load_catalog(tmp_path)
    assert message in str(err.value)
    assert "bad.toml" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_table_that_is_not_utf8_names_the_file(tmp_path):
    (tmp_path / "bad.toml").write_bytes('[models.x]\ndescription = "café"\n'.encode("latin-1"))
    with pytest.raises(UserError, match=r"bad\.toml: not UTF-8 text \(byte 0xe9 at offset \d+\); save"):
        load_catalog(tmp_path)


@pytest.mark.parametrize(
    "content, message",
    [
        ("models = 3\n", "`models` must be a table"),
        ('[models.x]\nprotocol = "openai-chat"\nmodel_id = "m"\nmax_concurrency = true\n', "max_concurrency is True"),
    ],
)
def test_malformed_tables_are_one_line_exit_2_for_every_command(tmp_path, capsys, content, message):
    from conftest import run_cli

    (tmp_path / "bad.toml").write_text(content)
    for argv in (
        ["models"],
        ["ask", "gpt-4", "hi"],
        ["generate", "--rounds", "1", "--models", "gpt-4", "--store", f"sqlite:///{tmp_path}/s.db"],
    ):
        assert run_cli(*argv, "--catalog", str(tmp_path)) == 2
        err = capsys.readouterr().err
        assert message in err and "bad.toml" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "s.db").exists()


def test_unknown_alias_lists_known_ones():
    with pytest.raises(UserError, match="unknown model 'gpt-5000'.*gpt-4"):
        load_catalog().get_model("gpt-5000")


ECHO_ADAPTER = """
from synthgen.adapters.base import Adapter


class EchoAdapter(Adapter):
    protocol = "echo"

    async def _send(self, spec, body):
        return {"said": body["text"].upper()}, {}

    @classmethod
    def credentials_present(cls, spec):
        return True

    @classmethod
    def credentials_hint(cls, spec):
        return ""
"""


def test_a_new_protocol_is_one_registry_row_that_the_catalog_and_the_adapter_lookup_both_read(tmp_path, monkeypatch):
    import asyncio

    from conftest import run_cli

    from synthgen import protocols
    from synthgen.adapters import Adapters, adapter_class, credentials_status

    (tmp_path / "echo_adapter.py").write_text(ECHO_ADAPTER)
    monkeypatch.syspath_prepend(str(tmp_path))
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "echo.toml").write_text(
        '[protocols.echo]\nbody = { text = "{prompt}" }\nanswer_path = "said"\n'
        '[models.shout]\nprotocol = "echo"\nmodel_id = "loud"\n'
    )
    with pytest.raises(UserError, match="protocols.echo] is not a protocol; use one of bedrock-invoke, "):
        load_catalog(tables)

    monkeypatch.setitem(protocols.REGISTRY, "echo", protocols.Protocol("echo", "echo_adapter:EchoAdapter"))
    spec = load_catalog(tables)["shout"]
    assert adapter_class("echo").__name__ == "EchoAdapter" and credentials_status(spec) == (True, "")

    async def once():
        adapters = Adapters()
        try:
            return await adapters.for_spec(spec).call(spec, "hello")
        finally:
            await adapters.aclose()

    result = asyncio.run(once())
    assert result.ok and result.text == "HELLO" and result.request_body == {"text": "hello"}
    assert run_cli("ask", "shout", "hi there", "--catalog", str(tables)) == 0


def test_a_protocols_missing_extra_is_its_install_hint(monkeypatch):
    import sys

    from synthgen import protocols

    extra = protocols.Extra("nothing", ("no_such_module_xyz",), "synthgen.adapters.gguf:install_hint")
    monkeypatch.setitem(protocols.REGISTRY, "needy", protocols.Protocol("needy", "no_such_adapter:X", extra))
    with pytest.raises(UserError, match="the needy protocol needs the `local` extra"):
        protocols.adapter_class("needy")
    assert "no_such_adapter" not in sys.modules  # the extra is checked before the adapter is imported
    with pytest.raises(UserError, match="unknown protocol 'carrier-pigeon'; use one of bedrock-invoke"):
        protocols.adapter_class("carrier-pigeon")
