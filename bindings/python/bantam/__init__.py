"""bantam from Python: load a GGUF model, chat, complete, embed, with adapters and saved state.

    import bantam
    model = bantam.Model("stories260K.gguf")
    for piece in model.chat([{"role": "user", "content": "Tell me a story"}], stream=True):
        print(piece, end="")

A thin layer over bantam's C API (libbantam_core.so) through ctypes; errors raise BantamError
(or a subclass) carrying the C API's message and status.
"""
import ctypes
import json
import queue
import threading
from dataclasses import dataclass, field

from . import _lib

__all__ = ["Model", "Session", "Adapter", "GenerationResult", "BantamError", "CancelledError",
           "StateMismatchError", "TemplateError", "LoadError", "version"]

_c = _lib.load()

FINISH_REASONS = ["end_of_generation", "max_tokens", "stop_string", "context_full", "cancelled"]
KV_TYPES = {"f16": 0, "f32": 1, "q8_0": 2, "q4_0": 3}


class BantamError(Exception):
    """A bantam call failed; `status` is the C API's bantam_status, `status_name` its name."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status
        self.status_name = _c.bantam_status_name(status).decode()


class LoadError(BantamError):
    """A model or adapter file that cannot be used."""


class CancelledError(BantamError):
    """A callback asked to stop."""


class StateMismatchError(BantamError):
    """A saved state for another model, adapters or KV type, or damaged."""


class TemplateError(BantamError):
    """The chat template cannot render the messages or tools."""


_ERRORS = {-2: LoadError, -3: CancelledError, -5: StateMismatchError, -6: TemplateError}


def _raise_last():
    status = _c.bantam_last_error_code()
    raise _ERRORS.get(status, BantamError)(_c.bantam_last_error().decode(errors="replace"), status)


def _check(status):
    if status < 0:
        _raise_last()
    return status


def _take_string(pointer):
    """A malloc'ed C string as str, freed."""
    if not pointer:
        _raise_last()
    try:
        return ctypes.string_at(pointer).decode(errors="replace")
    finally:
        _c.bantam_free(pointer)


def _ids_from(call):
    """Runs call(buffer, capacity) twice when needed: once to learn the count, once to fill."""
    n = _check(call(None, 0))
    buffer = (ctypes.c_int32 * n)()
    _check(call(buffer, n))
    return list(buffer)


def _messages(messages):
    array = (_lib.ChatMessage * len(messages))()
    for i, m in enumerate(messages):
        array[i].role = m["role"].encode()
        array[i].content = m["content"].encode()
    return array


def _text(value):
    if value is None:
        return None
    return value if isinstance(value, bytes) else str(value).encode()


def version():
    """The runtime's version, e.g. "0.1.0 (commit 1a2b3c4d5)"."""
    return _c.bantam_version().decode()


@dataclass
class GenerationResult:
    """What one generation produced."""
    text: str = ""
    tokens: list = field(default_factory=list)
    logprobs: list = field(default_factory=list)  # per token, under the model's distribution
    finish_reason: str = ""
    prompt_tokens: int = 0
    reused_tokens: int = 0


class Adapter:
    """A LoRA adapter checked against one model; pass it to Model.session(adapters=[...])."""

    def __init__(self, model, path):
        self._handle = _c.bantam_adapter_load(model._handle, _text(path))
        if not self._handle:
            _raise_last()
        self.path = str(path)

    def __del__(self):
        if getattr(self, "_handle", None):
            _c.bantam_adapter_free(self._handle)
            self._handle = None


class Model:
    """A loaded GGUF model: bantam.Model(path), bantam.Model(data=bytes) or bantam.Model(fd=n).

    progress: a callable(fraction) called while loading; return False to cancel (CancelledError).
    """

    def __init__(self, path=None, *, data=None, fd=None, progress=None):
        params = _c.bantam_model_default_params()
        callback = None
        if progress is not None:
            callback = _lib.PROGRESS_CALLBACK(lambda _user, fraction: 0 if progress(fraction) is False else 1)
            params.progress = ctypes.cast(callback, ctypes.c_void_p)
        if sum(x is not None for x in (path, data, fd)) != 1:
            raise ValueError("give exactly one of path, data or fd")
        self._data = None
        if data is not None:
            self._data = bytes(data)  # kept: the model uses it in place
            self._handle = _c.bantam_model_load_from_memory(self._data, len(self._data), ctypes.byref(params))
        elif fd is not None:
            self._handle = _c.bantam_model_load_from_fd(fd, ctypes.byref(params))
        else:
            self._handle = _c.bantam_model_load_with_params(_text(path), ctypes.byref(params))
        if not self._handle:
            _raise_last()
        self._default_session = None
        info = _lib.ModelInfo()
        info.struct_size = ctypes.sizeof(info)
        _check(_c.bantam_model_get_info(self._handle, ctypes.byref(info)))
        self.architecture = info.architecture.decode()
        self.name = info.name.decode()
        self.n_params = info.n_params
        self.context_length = info.context_length
        self.n_vocab = info.n_vocab
        self.n_embd = info.n_embd
        self.n_layer = info.n_layer
        self.has_chat_template = bool(info.has_chat_template)

    def close(self):
        """Frees the model (sessions made from it keep it alive until they are closed)."""
        if getattr(self, "_default_session", None) is not None:
            self._default_session.close()
            self._default_session = None
        if getattr(self, "_handle", None):
            _c.bantam_model_free(self._handle)
            self._handle = None

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def tokenize(self, text, add_special=True):
        return _ids_from(lambda buf, cap: _c.bantam_tokenize(self._handle, _text(text), int(add_special), buf, cap))

    def detokenize(self, ids):
        array = (ctypes.c_int32 * len(ids))(*ids)
        return _take_string(_c.bantam_detokenize(self._handle, array, len(ids)))

    def chat_prompt(self, messages, tools=None, template=None):
        """The conversation rendered by the model's chat template (or `template`), with tools."""
        return _take_string(_c.bantam_chat_render(self._handle, _messages(messages), len(messages),
                                                  _tools(tools), _text(template)))

    def embed(self, text, threads=0):
        """The unit-length embedding of text (n_embd floats)."""
        out = (ctypes.c_float * self.n_embd)()
        _check(_c.bantam_embed(self._handle, _text(text), threads, out, self.n_embd))
        return list(out)

    def load_adapter(self, path):
        return Adapter(self, path)

    def session(self, context_length=4096, threads=0, batch_size=512, kv_type="f16", adapters=()):
        """A new session (its own KV cache). adapters: Adapter objects or (Adapter, scale) pairs."""
        return Session(self, context_length, threads, batch_size, kv_type, adapters)

    def _session(self):
        if self._default_session is None:
            self._default_session = self.session(context_length=min(4096, max(self.context_length, 512)))
        return self._default_session

    def chat(self, messages, stream=False, tools=None, template=None, **options):
        """The assistant's reply to messages: a str, or with stream=True a generator of text pieces."""
        return self._session().chat(messages, stream=stream, tools=tools, template=template, **options)

    def complete(self, prompt, stream=False, **options):
        """The continuation of prompt: a str, or with stream=True a generator of text pieces."""
        return self._session().complete(prompt, stream=stream, **options)


def _tools(tools):
    if tools is None:
        return None
    return _text(tools if isinstance(tools, (str, bytes)) else json.dumps(tools))


def _generate_params(max_tokens=256, temperature=None, top_k=None, top_p=None, min_p=None, repeat_penalty=None,
                     seed=None, stop=(), json_schema=None):
    params = _c.bantam_generate_default_params()
    params.max_tokens = max_tokens
    for name, value in (("temperature", temperature), ("top_k", top_k), ("top_p", top_p), ("min_p", min_p),
                        ("repeat_penalty", repeat_penalty), ("seed", seed)):
        if value is not None:
            setattr(params, name, value)
    stops = (ctypes.c_char_p * len(stop))(*[_text(s) for s in stop])
    params.stop = stops
    params.n_stop = len(stop)
    if json_schema is not None:
        params.json_schema = _text(json_schema if isinstance(json_schema, (str, bytes)) else json.dumps(json_schema))
    return params, stops  # the stop array must live as long as the params


class Session:
    """One conversation with its own KV cache. Use one thread at a time (cancel() from any)."""

    def __init__(self, model, context_length, threads, batch_size, kv_type, adapters):
        params = _c.bantam_session_default_params()
        params.context_length = context_length
        params.threads = threads
        params.batch_size = batch_size
        if kv_type not in KV_TYPES:
            raise ValueError(f"kv_type {kv_type!r}: one of {', '.join(KV_TYPES)}")
        params.kv_type = KV_TYPES[kv_type]
        pairs = [a if isinstance(a, tuple) else (a, 1.0) for a in adapters]
        handles = (ctypes.c_void_p * len(pairs))(*[a._handle for a, _ in pairs])
        scales = (ctypes.c_float * len(pairs))(*[s for _, s in pairs])
        params.adapters = handles
        params.adapter_scales = scales
        params.n_adapters = len(pairs)
        self.model = model
        self._handle = _c.bantam_session_new(model._handle, ctypes.byref(params))
        if not self._handle:
            _raise_last()
        self.last_result = None

    def close(self):
        if getattr(self, "_handle", None):
            _c.bantam_session_free(self._handle)
            self._handle = None

    __del__ = close

    @property
    def tokens(self):
        """The sequence in the session's cache."""
        return _ids_from(lambda buf, cap: _c.bantam_session_tokens(self._handle, buf, cap))

    def reset(self):
        _check(_c.bantam_session_reset(self._handle))

    def cancel(self):
        """Makes a running generation stop (any thread)."""
        _c.bantam_session_cancel(self._handle)

    def save_state(self):
        """The sequence and its KV cache as bytes (for restore_state, here or after a restart)."""
        size = ctypes.c_size_t(0)
        status = _c.bantam_session_save_state(self._handle, None, 0, ctypes.byref(size))
        if status != -4:  # BANTAM_ERROR_BUFFER_TOO_SMALL: the size is known
            _check(status)
        buffer = ctypes.create_string_buffer(size.value)
        _check(_c.bantam_session_save_state(self._handle, buffer, size.value, ctypes.byref(size)))
        return buffer.raw[:size.value]

    def restore_state(self, state):
        """Replaces the sequence with a saved one; StateMismatchError saying why it does not fit."""
        _check(_c.bantam_session_restore_state(self._handle, state, len(state)))

    def generate(self, prompt_ids, on_token=None, **options):
        """Continues the sequence to prompt_ids, then generates; on_token(id, text, logprob) per
        token may return False to stop. Returns a GenerationResult."""
        ids = (ctypes.c_int32 * len(prompt_ids))(*prompt_ids)
        return self._run(lambda params, callback, result: _c.bantam_session_generate(
            self._handle, ids, len(prompt_ids), params, callback, None, result), on_token, options)

    def complete(self, prompt, stream=False, **options):
        ids = self.model.tokenize(prompt)
        if stream:
            return self._stream(lambda on_token: self.generate(ids, on_token, **options))
        return self.generate(ids, **options).text

    def chat(self, messages, stream=False, tools=None, template=None, **options):
        """The assistant's reply to the whole conversation (its prefix stays cached between calls)."""
        array = _messages(messages)

        def run(on_token):
            return self._run(lambda params, callback, result: _c.bantam_session_chat(
                self._handle, array, len(messages), _tools(tools), _text(template), params, callback, None, result),
                on_token, options)
        if stream:
            return self._stream(run)
        return run(None).text

    def _run(self, call, on_token, options):
        params, _stops = _generate_params(**options)
        out = GenerationResult()

        def each(_user, token, text, length, logprob):
            piece = ctypes.string_at(text, length).decode(errors="replace")  # whole characters
            if token >= 0:
                out.tokens.append(token)
                out.logprobs.append(logprob)
            out.text += piece
            if on_token is not None and on_token(token, piece, logprob) is False:
                return 0
            return 1
        callback = _lib.TOKEN_CALLBACK(each)
        result = _lib.GenerateResult()
        result.struct_size = ctypes.sizeof(result)
        _check(call(ctypes.byref(params), callback, ctypes.byref(result)))
        out.finish_reason = FINISH_REASONS[result.finish_reason]
        out.prompt_tokens = result.n_prompt_tokens
        out.reused_tokens = result.n_reused_tokens
        self.last_result = out
        return out

    def _stream(self, run):
        """Runs run(on_token) on a thread and yields its text pieces; closing the generator cancels."""
        pieces = queue.Queue()
        stop = threading.Event()
        failure = []

        def on_token(_token, piece, _logprob):
            if piece:
                pieces.put(piece)
            return not stop.is_set()

        def work():
            try:
                run(on_token)
            except BaseException as error:  # re-raised in the caller's thread
                failure.append(error)
            finally:
                pieces.put(None)
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        try:
            while (piece := pieces.get()) is not None:
                yield piece
        finally:
            stop.set()
            thread.join()
        if failure:
            raise failure[0]
