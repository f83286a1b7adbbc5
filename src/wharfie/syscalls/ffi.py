# mypy: disable-error-code="type-arg,arg-type"
# (typeshed types _ctypes through ctypes' own classes; this module stands in for those)
"""A minimal foreign-function layer over `_ctypes`, the C module under `ctypes`.

`import ctypes` costs ~1.6 ms here (it pulls in `types`, `struct` and
`ctypes._endian`), a noticeable share of a ~25 ms container start; `_ctypes`
alone costs ~0.4 ms. This module defines just what the runtime's start path
needs: a few C types, structures, and functions looked up in libc with errno
capture. Values and structures are the real `_ctypes` objects, so `byref`,
`sizeof` and arrays (`Type * n`) behave exactly as in `ctypes`.
"""

from __future__ import annotations

import _ctypes
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

Structure = _ctypes.Structure
byref = _ctypes.byref
sizeof = _ctypes.sizeof
get_errno = _ctypes.get_errno


class c_int(_ctypes._SimpleCData):
    _type_ = "i"


class c_short(_ctypes._SimpleCData):
    _type_ = "h"


class c_long(_ctypes._SimpleCData):
    _type_ = "l"


class c_ulong(_ctypes._SimpleCData):
    _type_ = "L"


class c_uint32(_ctypes._SimpleCData):
    _type_ = "I"


class c_uint64(_ctypes._SimpleCData):
    _type_ = "Q"


class c_char(_ctypes._SimpleCData):
    _type_ = "c"


class c_char_p(_ctypes._SimpleCData):
    _type_ = "z"


class c_void_p(_ctypes._SimpleCData):
    _type_ = "P"


c_size_t = c_ulong


class _Library:
    """What `CFuncPtr((name, library))` needs: an object with the dlopen handle."""

    __slots__ = ("_handle",)

    def __init__(self, name: str | None) -> None:
        self._handle = _ctypes.dlopen(name, os.RTLD_NOW | _ctypes.RTLD_LOCAL)


_process = _Library(None)  # the running program: libc and the Python C API


def function(
    name: str, restype: Any, argtypes: list[Any] | None, *, python_api: bool = False
) -> Any:
    """A libc (or, with `python_api`, a Python C API) function, errno saved after each call."""
    flags = _ctypes.FUNCFLAG_CDECL
    flags |= _ctypes.FUNCFLAG_PYTHONAPI if python_api else _ctypes.FUNCFLAG_USE_ERRNO

    class Function(_ctypes.CFuncPtr):
        _flags_ = flags
        _restype_ = c_int

    fn = Function((name, _process))
    fn.restype = restype
    if argtypes is not None:
        fn.argtypes = argtypes
    return fn
