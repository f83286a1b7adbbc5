"""Seccomp filters from linux.seccomp, compiled and loaded through libseccomp (ctypes).

Contract:

    f = compile_filter(seccomp_spec)   # validate + build the libseccomp context; errors name the field
    f.load()                           # in the container process, right before execve

compile_filter may run before fork (the context is copied into the child).
"""
