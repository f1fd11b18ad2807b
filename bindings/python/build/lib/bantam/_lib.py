"""ctypes declarations of bantam's C API (include/bantam/bantam.h, API version 1)."""
import ctypes
import ctypes.util
import os
from pathlib import Path

API_VERSION = 1

c_int32_p = ctypes.POINTER(ctypes.c_int32)


class ModelParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("progress", ctypes.c_void_p),
                ("progress_user_data", ctypes.c_void_p)]


class ModelInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("architecture", ctypes.c_char_p),
                ("name", ctypes.c_char_p),
                ("n_params", ctypes.c_int64),
                ("context_length", ctypes.c_int64),
                ("n_vocab", ctypes.c_int32),
                ("n_embd", ctypes.c_int32),
                ("n_layer", ctypes.c_int32),
                ("has_chat_template", ctypes.c_int32)]


class ChatMessage(ctypes.Structure):
    _fields_ = [("role", ctypes.c_char_p), ("content", ctypes.c_char_p)]


class SessionParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("context_length", ctypes.c_int64),
                ("threads", ctypes.c_int32),
                ("batch_size", ctypes.c_int32),
                ("kv_type", ctypes.c_int),
                ("adapters", ctypes.POINTER(ctypes.c_void_p)),
                ("adapter_scales", ctypes.POINTER(ctypes.c_float)),
                ("n_adapters", ctypes.c_int32)]


class GenerateParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("max_tokens", ctypes.c_int32),
                ("temperature", ctypes.c_float),
                ("top_k", ctypes.c_int32),
                ("top_p", ctypes.c_float),
                ("min_p", ctypes.c_float),
                ("repeat_penalty", ctypes.c_float),
                ("frequency_penalty", ctypes.c_float),
                ("presence_penalty", ctypes.c_float),
                ("penalty_last_n", ctypes.c_int32),
                ("seed", ctypes.c_uint64),
                ("stop", ctypes.POINTER(ctypes.c_char_p)),
                ("n_stop", ctypes.c_int32),
                ("json_schema", ctypes.c_char_p)]


class GenerateResult(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("n_tokens", ctypes.c_int32),
                ("finish_reason", ctypes.c_int),
                ("n_prompt_tokens", ctypes.c_int32),
                ("n_reused_tokens", ctypes.c_int32),
                ("prompt_seconds", ctypes.c_double),
                ("generation_seconds", ctypes.c_double)]


PROGRESS_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_float)
TOKEN_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_char),
                                  ctypes.c_size_t, ctypes.c_float)

_LIBRARY_NAME = "libbantam_core.so"


def _candidates():
    """Where the shared library may be, most specific first."""
    if os.environ.get("BANTAM_LIBRARY"):
        yield os.environ["BANTAM_LIBRARY"]
    here = Path(__file__).resolve().parent
    yield str(here / _LIBRARY_NAME)
    yield str(here.parent.parent.parent / "build" / "lib" / _LIBRARY_NAME)  # a source checkout's build
    found = ctypes.util.find_library("bantam_core")
    if found:
        yield found
    yield _LIBRARY_NAME  # the loader's own search (LD_LIBRARY_PATH, ld.so.cache)


def _declare(lib):
    """Argument and result types of every function used."""
    vp, cp, sz, i32 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int32
    fp = ctypes.POINTER(ctypes.c_float)
    msgs = ctypes.POINTER(ChatMessage)
    signatures = {
        "bantam_api_version": ([], i32),
        "bantam_version": ([], cp),
        "bantam_last_error": ([], cp),
        "bantam_last_error_code": ([], ctypes.c_int),
        "bantam_status_name": ([ctypes.c_int], cp),
        "bantam_free": ([vp], None),
        "bantam_model_default_params": ([], ModelParams),
        "bantam_model_load_with_params": ([cp, ctypes.POINTER(ModelParams)], vp),
        "bantam_model_load_from_memory": ([vp, sz, ctypes.POINTER(ModelParams)], vp),
        "bantam_model_load_from_fd": ([ctypes.c_int, ctypes.POINTER(ModelParams)], vp),
        "bantam_model_free": ([vp], None),
        "bantam_model_get_info": ([vp, ctypes.POINTER(ModelInfo)], ctypes.c_int),
        "bantam_tokenize": ([vp, cp, i32, c_int32_p, i32], i32),
        "bantam_detokenize": ([vp, c_int32_p, i32], vp),
        "bantam_chat_render": ([vp, msgs, i32, cp, cp], vp),
        "bantam_chat_tokenize": ([vp, msgs, i32, cp, cp, c_int32_p, i32], i32),
        "bantam_embed": ([vp, cp, i32, fp, i32], i32),
        "bantam_adapter_load": ([vp, cp], vp),
        "bantam_adapter_free": ([vp], None),
        "bantam_session_default_params": ([], SessionParams),
        "bantam_session_new": ([vp, ctypes.POINTER(SessionParams)], vp),
        "bantam_session_free": ([vp], None),
        "bantam_session_cancel": ([vp], None),
        "bantam_session_reset": ([vp], ctypes.c_int),
        "bantam_session_tokens": ([vp, c_int32_p, i32], i32),
        "bantam_generate_default_params": ([], GenerateParams),
        "bantam_session_generate": ([vp, c_int32_p, i32, ctypes.POINTER(GenerateParams), TOKEN_CALLBACK, vp,
                                     ctypes.POINTER(GenerateResult)], ctypes.c_int),
        "bantam_session_chat": ([vp, msgs, i32, cp, cp, ctypes.POINTER(GenerateParams), TOKEN_CALLBACK, vp,
                                 ctypes.POINTER(GenerateResult)], ctypes.c_int),
        "bantam_session_save_state": ([vp, vp, sz, ctypes.POINTER(sz)], ctypes.c_int),
        "bantam_session_restore_state": ([vp, vp, sz], ctypes.c_int),
    }
    for name, (args, result) in signatures.items():
        function = getattr(lib, name)
        function.argtypes = args
        function.restype = result


def load():
    """The first library found that speaks this API version; OSError naming where it looked."""
    tried = []
    for candidate in _candidates():
        if os.sep in candidate and not os.path.exists(candidate):
            tried.append(f"{candidate} (absent)")
            continue
        try:
            lib = ctypes.CDLL(candidate)
        except OSError as error:
            tried.append(f"{candidate} ({error})")
            continue
        _declare(lib)
        version = lib.bantam_api_version()
        if version != API_VERSION:
            tried.append(f"{candidate} (C API version {version}, these bindings need {API_VERSION})")
            continue
        return lib
    raise OSError("libbantam_core.so not found; set BANTAM_LIBRARY to its path. Tried: " + "; ".join(tried))
