"""The Python package over the C API: every method, streaming and cancel, state, errors."""
import json
import os

import pytest

import bantam
from conftest import shared

GREEDY = {"temperature": 0}


def test_version_and_model_info(model):
    assert "commit" in bantam.version()
    assert model.architecture == "llama"
    assert (model.n_vocab, model.n_embd, model.n_layer, model.context_length) == (512, 64, 5, 2048)
    assert model.n_params == 292800
    assert model.has_chat_template is False


def test_memory_fd_and_progress_loading(stories_path):
    data = stories_path.read_bytes()
    fractions = []
    from_memory = bantam.Model(data=data, progress=fractions.append)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    fd = os.open(stories_path, os.O_RDONLY)
    try:
        from_fd = bantam.Model(fd=fd)
    finally:
        os.close(fd)
    assert from_memory.tokenize("Once upon") == from_fd.tokenize("Once upon")
    with pytest.raises(bantam.CancelledError, match="cancelled"):
        bantam.Model(stories_path, progress=lambda fraction: fraction < 0.5)


def test_load_errors_carry_the_c_message():
    with pytest.raises(bantam.LoadError, match="/nonexistent/model.gguf") as info:
        bantam.Model("/nonexistent/model.gguf")
    assert info.value.status_name == "load_failed"
    with pytest.raises(bantam.LoadError, match="not a GGUF file"):
        bantam.Model(data=b"definitely not a model file")
    with pytest.raises(ValueError):
        bantam.Model()


def test_tokenize_and_detokenize(model):
    ids = model.tokenize("Once upon a time")
    assert len(ids) > 2
    assert model.detokenize(ids).strip() == "Once upon a time"
    assert len(model.tokenize("Once upon a time", add_special=False)) == len(ids) - 1
    with pytest.raises(bantam.BantamError, match="9999"):
        model.detokenize([9999])


def test_complete_and_stream_give_the_same_text(model):
    text = model.complete("Once upon a time", max_tokens=12, **GREEDY)
    assert text.startswith(", there was a little girl")
    pieces = list(model.complete("Once upon a time", stream=True, max_tokens=12, **GREEDY))
    assert len(pieces) > 1
    assert "".join(pieces) == text


def test_closing_a_stream_cancels_it(model):
    session = model.session(context_length=512)
    stream = session.complete("Once upon a time", stream=True, max_tokens=200, **GREEDY)
    next(stream)
    stream.close()
    assert session.last_result.finish_reason == "cancelled"
    assert len(session.last_result.tokens) < 200


def test_chat_with_a_template_and_tools(model):
    template = shared("templates/Qwen-Qwen2.5-7B-Instruct.jinja").read_text()
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                               "parameters": {"type": "object", "properties": {}}}}]
    messages = [{"role": "user", "content": "Hello"}]
    prompt = model.chat_prompt(messages, tools=tools, template=template)
    assert "get_weather" in prompt and prompt.endswith("<|im_start|>assistant\n")
    reply = "".join(model.chat(messages, stream=True, template=template, max_tokens=6, **GREEDY))
    assert reply == model.chat(messages, template=template, max_tokens=6, **GREEDY)
    with pytest.raises(bantam.TemplateError, match="no place for tools"):
        model.chat(messages, tools=tools)  # the fallback format cannot show them


def test_json_schema_and_logprobs(model):
    session = model.session(context_length=512)
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}, "required": ["name"]}
    result = session.generate(model.tokenize("Once upon a time"), json_schema=schema, max_tokens=40, **GREEDY)
    assert isinstance(json.loads(result.text)["name"], str)
    assert result.finish_reason == "end_of_generation"
    assert len(result.logprobs) == len(result.tokens) and all(lp <= 0 for lp in result.logprobs)
    with pytest.raises(bantam.BantamError, match="pattern"):
        session.generate(model.tokenize("x"), json_schema={"type": "string", "pattern": "a"})


def test_embed(model):
    a, b = model.embed("The cat sat."), model.embed("A dragon flew.")
    assert len(a) == 64
    assert abs(sum(x * x for x in a) - 1.0) < 1e-4
    assert a != b and a == model.embed("The cat sat.")


def test_adapters_change_the_output(model):
    adapter = model.load_adapter(shared("models/adapters/stories260K-lora-qvd-r8-f32.gguf"))
    plain = model.session(context_length=256).complete("Once upon a time", max_tokens=16, **GREEDY)
    adapted = model.session(context_length=256, adapters=[(adapter, 1.0)]).complete(
        "Once upon a time", max_tokens=16, **GREEDY)
    assert plain != adapted
    with pytest.raises(bantam.LoadError, match="synth-qwen2-lora"):
        model.load_adapter(shared("models/adapters/synth-qwen2-lora-qkvu-r8-f16.gguf"))


def test_state_save_and_restore_continue_exactly(model):
    prompt = model.tokenize("Once upon a time")
    whole = model.session(context_length=256).generate(prompt, max_tokens=20, **GREEDY).tokens
    first = model.session(context_length=256)
    head = first.generate(prompt, max_tokens=8, **GREEDY).tokens
    state = first.save_state()
    first.close()
    resumed = model.session(context_length=256)
    resumed.restore_state(state)
    tail = resumed.generate(prompt + head, max_tokens=12, **GREEDY).tokens
    assert head + tail == whole
    with pytest.raises(bantam.StateMismatchError, match="KV cache type"):
        model.session(context_length=256, kv_type="f32").restore_state(state)
    with pytest.raises(bantam.StateMismatchError, match="checksum"):
        model.session(context_length=256).restore_state(state[:-3])
